"""The gate's data of what it serves: sense questions from the retrieval task's queries, labelled by synset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from aiprime.data.questions import quoted_word, word_of
from aiprime.errors import DataCorrupt
from aiprime.moe.dataset import QUERIES, SYNSETS, TABLE, TaskSplit, file_md5, read_questions

SYNSET_ROWS = [  # synset_id, lexname, domain, split, lemmas, examples
    ("n01", "noun.animal", "living", "train", ["dog"], ["the dog barked all night"]),
    ("v02", "verb.social", "actions", "train", ["court"], ["we were courting for years", "she courts him"]),
    ("n03", "noun.artifact", "artifacts", "val", ["car"], ["he parked the cars outside"]),
    ("a04", "adj.all", "qualities", "test", ["red"], ["a red face"]),
]


def checkout(root: Path) -> Path:
    """A DVC checkout whose dvc.lock pins a classification table, its queries and the synsets they quote."""
    (root / "data" / "splits").mkdir(parents=True)
    (root / "data" / "processed").mkdir()
    rows = pd.DataFrame(
        SYNSET_ROWS, columns=["synset_id", "lexname", "domain", "split", "lemmas", "examples"]
    )
    rows.assign(text="a gloss")[["synset_id", "text", "lexname", "domain", "split"]].to_parquet(
        root / "data" / TABLE
    )
    rows[["synset_id", "lemmas", "examples"]].to_parquet(root / "data" / SYNSETS)
    queries = [
        (f"q:{s}:{i}", s, "___", split) for s, _, _, split, _, ex in SYNSET_ROWS for i in range(len(ex))
    ]
    pd.DataFrame(queries, columns=["query_id", "synset_id", "text", "split"]).to_parquet(
        root / "data" / QUERIES
    )
    outs = {stage: [{"path": p, "md5": file_md5(root / "data" / p)} for p in paths]
            for stage, paths in (("splits", [TABLE, QUERIES]), ("processed", [SYNSETS]))}  # fmt: skip
    lock = {"schema": "2.0", "stages": {stage: {"outs": o} for stage, o in outs.items()}}
    (root / "data" / "dvc.lock").write_text(yaml.safe_dump(lock))
    return root


def test_questions_quote_the_unmasked_example_and_carry_the_synsets_labels_and_split(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    table, version = read_questions(root, pull=False)
    court = table[table.synset_id == "v02"]
    assert list(court.text) == [
        'What does "courting" mean in "we were courting for years"?',
        'What does "courts" mean in "she courts him"?',
    ]
    assert list(court.word) == ["courting", "courts"]  # what the gate reads beside each question
    assert set(court.domain) == {"actions"} and set(court.split) == {"train"}
    assert dict(zip(table.synset_id, table.split, strict=True))["n03"] == "val"
    assert version == f"{file_md5(root / 'data' / QUERIES)}+{file_md5(root / 'data' / TABLE)}"


def test_questions_whose_file_differs_from_dvc_lock_are_refused(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    pd.DataFrame({"query_id": [], "synset_id": [], "text": [], "split": []}).to_parquet(
        root / "data" / QUERIES
    )
    with pytest.raises(DataCorrupt, match="dvc checkout data/dvc.yaml:splits"):
        read_questions(root, pull=False)


def test_join_puts_the_other_splits_rows_after_these() -> None:
    def split(n: int, domain: str) -> TaskSplit:
        return TaskSplit(np.full((n, 384), n, np.float32), np.array([f"s{n}"] * n), np.array(["x"] * n),
                         np.array([domain] * n))  # fmt: skip

    joined = split(2, "living").join(split(3, "actions"))
    assert len(joined) == 5 and list(joined.domain) == ["living"] * 2 + ["actions"] * 3
    assert joined.x[4, 0] == 3


def test_the_word_of_a_sense_question_is_its_quoted_word_and_any_other_text_is_its_own() -> None:
    assert word_of('What does "hot dog" mean in "a hot dog stand"?') == "hot dog"
    assert quoted_word('  what does "Courting" mean?') == "Courting"
    assert quoted_word('he said "courting" twice') is None and quoted_word('What does "" mean?') is None
    assert word_of("a domesticated carnivorous mammal") == "a domesticated carnivorous mammal"


def test_rows_without_a_word_are_their_own_word_when_joined_cut_or_saved(tmp_path: Path) -> None:
    glosses = TaskSplit(np.ones((2, 384), np.float32), np.array(["g1", "g2"]), np.array(["x"] * 2),
                        np.array(["living"] * 2))  # fmt: skip
    questions = TaskSplit(np.zeros((1, 384), np.float32), np.array(["q1"]), np.array(["x"]),
                          np.array(["actions"]), np.full((1, 384), 5, np.float32))  # fmt: skip
    joined = glosses.join(questions)
    assert joined.gate_x.shape == (3, 768)
    assert (joined.gate_x[:2, 384:] == 1).all() and (joined.gate_x[2, 384:] == 5).all()
    assert (joined.where(np.array([False, False, True])).words == 5).all()
    again = TaskSplit.load(joined.save(tmp_path / "joined.npz"))
    np.testing.assert_array_equal(again.gate_x, joined.gate_x)
    assert TaskSplit.load(glosses.save(tmp_path / "glosses.npz")).word is None
