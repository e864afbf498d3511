"""The classification task as arrays: sampling, the md5 check against dvc.lock, and split files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _helpers.progress import Recording

from aiprime.data.domains import load_domains
from aiprime.errors import DataCorrupt, NotFound
from aiprime.moe import embeddings
from aiprime.moe.dataset import (
    TABLE,
    TaskSplit,
    all_classes,
    build_splits,
    embed,
    file_md5,
    fine_classes,
    read_table,
    sample,
)
from aiprime.observability import progress

GLOSSES = [
    "a domesticated carnivorous mammal",
    "a motor vehicle with four wheels",
    "feel happiness",
    "the act of running",
    "a person who teaches",
    "bright red in colour",
]


def table(rows_per_class: int = 3) -> pd.DataFrame:
    """A classification table over three lexnames, every split, in synset order."""
    domains = dict(zip(load_domains().lexname, load_domains().domain, strict=True))
    rows = [
        (f"n{lex[-3:]}{split[0]}{i}", GLOSSES[(i + j) % len(GLOSSES)], lex, domains[lex], split)
        for j, lex in enumerate(["noun.animal", "noun.artifact", "verb.emotion"])
        for split in ("train", "val", "test")
        for i in range(rows_per_class)
    ]
    frame = pd.DataFrame(rows, columns=["synset_id", "text", "lexname", "domain", "split"])
    return frame.sort_values("synset_id", ignore_index=True)


def checkout(root: Path, frame: pd.DataFrame, md5: str | None = None) -> Path:
    """A minimal DVC checkout whose dvc.lock pins the classification table (by its md5 unless given)."""
    (root / ".dvc").mkdir(parents=True)
    (root / "data" / "splits").mkdir(parents=True)
    (root / "data" / "dvc.yaml").write_text("stages: {}\n")
    frame.to_parquet(root / "data" / TABLE)
    lock = {
        "schema": "2.0",
        "stages": {
            "splits": {
                "outs": [{"path": TABLE, "hash": "md5", "md5": md5 or file_md5(root / "data" / TABLE)}]
            }
        },
    }
    (root / "data" / "dvc.lock").write_text(yaml.safe_dump(lock))
    return root


def test_sample_keeps_at_most_limit_rows_per_split_and_class() -> None:
    frame = table(rows_per_class=5)
    kept = sample(frame, 2)
    counts = kept.groupby(["split", "lexname"]).size()
    assert counts.max() == 2 and len(counts) == 9, counts
    assert sample(frame, 0) is frame
    assert list(kept.synset_id) == sorted(kept.synset_id)


def test_a_table_that_differs_from_dvc_lock_is_refused(tmp_path: Path) -> None:
    root = checkout(tmp_path, table(), md5="0" * 32)
    with pytest.raises(DataCorrupt, match="dvc checkout"):
        read_table(root, pull=False)


def test_a_missing_table_says_how_to_get_it(tmp_path: Path) -> None:
    root = checkout(tmp_path, table())
    (root / "data" / TABLE).unlink()
    with pytest.raises(NotFound, match="aiprime data ingest"):
        read_table(root, pull=False)


@pytest.mark.slow
def test_build_splits_embeds_every_split_and_reports_the_dvc_md5(tmp_path: Path) -> None:
    root = checkout(tmp_path / "repo", table())
    splits, version = build_splits(root, tmp_path / "cache", limit=2)
    assert version == file_md5(root / "data" / TABLE)
    assert {name: len(s) for name, s in splits.items()} == {"train": 6, "val": 6, "test": 6}
    np.testing.assert_allclose(np.linalg.norm(splits["train"].x, axis=1), 1.0, atol=1e-5)
    assert set(splits["val"].domain) == {"living", "artifacts", "actions"}
    again, _ = build_splits(root, tmp_path / "cache", limit=2)
    np.testing.assert_array_equal(again["test"].x, splits["test"].x)


@pytest.mark.slow
def test_a_sample_is_cut_from_the_cached_full_embedding(tmp_path: Path, monkeypatch) -> None:
    root = checkout(tmp_path / "repo", table())
    full, _ = build_splits(root, tmp_path / "cache")
    monkeypatch.setattr(
        embeddings, "load_model", lambda: pytest.fail("the model was loaded for cached texts")
    )
    part, _ = build_splits(root, tmp_path / "cache", limit=1)
    position = {synset: i for i, synset in enumerate(full["val"].synset_id)}
    np.testing.assert_array_equal(part["val"].x, full["val"].x[[position[s] for s in part["val"].synset_id]])


def test_a_split_round_trips_through_its_file(tmp_path: Path, tiny_splits: dict) -> None:
    split = tiny_splits["val"]
    loaded = TaskSplit.load(split.save(tmp_path / "val.npz"))
    np.testing.assert_array_equal(loaded.x, split.x)
    assert (
        loaded.lexname.tolist() == split.lexname.tolist() and loaded.domain.tolist() == split.domain.tolist()
    )


def test_a_corrupt_split_file_says_to_rerun_prepare_data(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataCorrupt, match="prepare_data"):
        TaskSplit.load(tmp_path / "bad.npz")


def test_the_domains_partition_the_45_lexnames() -> None:
    classes = fine_classes()
    assert sorted(lex for lexnames in classes.values() for lex in lexnames) == list(all_classes())
    assert len(all_classes()) == 45 and len(classes) == 6


def test_embedding_texts_not_cached_yet_is_a_stage_with_its_items(tmp_path: Path) -> None:
    recording = Recording()
    with progress.reporting_to(recording):
        embed(GLOSSES * 3, tmp_path, chunk=4)  # 18 texts: chunks of 4, 4, 4, 4, 2
        embed(GLOSSES * 3, tmp_path, chunk=4)  # cached now: no stage
    name = "embedding 18 texts (fp32 MiniLM)"
    assert recording.events[0] == ("started", name, 0, 18)
    assert [done for event, _, done, _ in recording.events if event == "advanced"] == [4, 8, 12, 16, 18]
    assert recording.events[-1] == ("finished", name, 18, 18)
