"""prepare_data: three embedded splits from a DVC checkout, and the table's DVC md5 as the data version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kfp import dsl

from aiprime.errors import DataCorrupt
from aiprime.moe.dataset import TABLE, TaskSplit, file_md5

OUTPUTS = ("train", "val", "test", "train_questions", "val_questions")
GLOSSES = ["a domesticated carnivorous mammal", "a motor vehicle with four wheels", "feel happiness"]


def table() -> pd.DataFrame:
    rows = [
        (f"s{lex[-3:]}{split}{i}", GLOSSES[i], lex, domain, split)
        for lex, domain in (("noun.animal", "living"), ("verb.emotion", "actions"))
        for split in ("train", "val", "test")
        for i in range(3)
    ]
    return pd.DataFrame(rows, columns=["synset_id", "text", "lexname", "domain", "split"]).sort_values(
        "synset_id"
    )


@pytest.mark.slow
def test_writes_three_embedded_splits_and_returns_the_dvc_md5(
    component, artifact, make_checkout, tmp_path: Path
) -> None:
    root = make_checkout(tmp_path / "repo", table())
    outs = {name: artifact(dsl.Dataset, name) for name in OUTPUTS}
    versions = component("prepare_data")(
        repo_root=str(root), limit=2, embedding_cache=str(tmp_path / "cache"), threads=1, questions=0, **outs
    )
    version = versions.data_version
    assert version == file_md5(root / "data" / TABLE) and versions.questions_version == ""
    train = TaskSplit.load(Path(outs["train"].path))
    assert len(train) == 4 and train.x.shape == (4, 384)  # two lexnames, at most two rows each
    np.testing.assert_allclose(np.linalg.norm(train.x, axis=1), 1.0, atol=1e-5)
    assert outs["val"].metadata == {"rows": 4, "data_version": version, "limit": 2}
    assert len(TaskSplit.load(Path(outs["train_questions"].path))) == 0  # questions=0: the gate's are empty


def test_a_table_that_differs_from_its_dvc_lock_is_refused(
    component, artifact, make_checkout, tmp_path: Path
) -> None:
    root = make_checkout(tmp_path / "repo", table())
    table().head(2).to_parquet(root / "data" / TABLE)  # edited behind DVC's back
    outs = {name: artifact(dsl.Dataset, name) for name in OUTPUTS}
    with pytest.raises(DataCorrupt, match="dvc checkout"):
        cache = str(tmp_path / "cache")
        component("prepare_data")(
            repo_root=str(root), limit=0, embedding_cache=cache, threads=1, questions=0, **outs
        )
