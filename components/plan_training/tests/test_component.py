"""plan_training: with no champions every expert that has rows is trained; the plan is written for the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from kfp import dsl

from aiprime.moe.experts import EXPERTS
from aiprime.training.planning import RunPlan

pytestmark = pytest.mark.slow


def _plan(component, datasets, tracking_uri: str, out: dsl.Artifact) -> list[str]:
    """Run the component as its task does: no limit, 3 epochs, no retrain; the experts it will train."""
    return component("plan_training")(
        train=datasets["train"], val=datasets["val"], data_version="md5-test", mlflow_uri=tracking_uri,
        limit=0, max_epochs=3, lr=0.01, seed=0, threads=1, retrain=False, plan=out,
    )  # fmt: skip


def test_without_champions_everything_is_trained(component, artifact, datasets, tracking_uri: str) -> None:
    out = artifact(dsl.Artifact, "plan")
    experts = _plan(component, datasets, tracking_uri, out)
    assert experts == [s.name for s in EXPERTS]
    decided = RunPlan.from_json(Path(out.path).read_text())
    assert decided.gate and decided.dense and decided.train == tuple(experts) and not decided.keep
    assert decided.run_config().max_epochs == 3 and decided.run_config().train.lr == 0.01
    assert out.metadata["trained"].startswith("gate,dense,")


def test_an_expert_without_val_rows_is_left_out(
    component, artifact, datasets, splits, tracking_uri: str
) -> None:
    val = splits["val"].where(splits["val"].domain != "qualities")
    val.save(Path(datasets["val"].path))
    out = artifact(dsl.Artifact, "plan")
    experts = _plan(component, datasets, tracking_uri, out)
    assert "qualities" not in experts and out.metadata["skipped"] == "qualities"
