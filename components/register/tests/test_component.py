"""register: newly trained models become challengers; champion moves only for a better one."""

from __future__ import annotations

import json

import pytest
import torch
from kfp import dsl
from mlflow import MlflowClient

from aiprime.moe.experts import gate_config
from aiprime.moe.networks import GateNet, save_model
from aiprime.moe.system import Member
from aiprime.registry import mlflow_registry as registry

pytestmark = pytest.mark.slow


def test_first_models_become_champions_and_a_worse_gate_does_not(
    component, artifact, datasets, models, trained, make_plan, plan_artifact, tracking_uri: str, tmp_path
) -> None:
    metrics = artifact(dsl.Metrics, "metrics", {"system.accuracy": 0.9})
    common = {
        "val": datasets["val"],
        "plan": plan_artifact(make_plan(train=("living", "actions"))),
        "metrics": metrics,
        "mlflow_uri": tracking_uri,
        "experiment": "aiprime-moe",
        "evaluation_run_id": "",
        "code_version": "sha",
        "pipeline_run_id": "run-1",
    }
    first = json.loads(
        component("register")(
            gate=models["gate"],
            experts=[models["living"], models["actions"]],
            dense=models["dense"],
            **common,
        )
    )
    assert [p["promoted"] for p in first["promotions"]] == [True] * 4 and first["metrics"] == {
        "system.accuracy": 0.9
    }
    assert (
        MlflowClient(tracking_uri).get_model_version("aiprime-gate", "1").tags["pipeline_run_id"] == "run-1"
    )

    torch.manual_seed(0)
    untrained = save_model(
        GateNet(gate_config()), tmp_path / "bad" / "model.pt", Member.load(trained["gate"]).metadata
    ).parent
    worse = dsl.Model(name="gate", uri=str(untrained), metadata={"role": "gate", "trained": True})
    kept = {
        key: dsl.Model(name=key, uri=m.uri, metadata=m.metadata | {"trained": False})
        for key, m in models.items()
    }
    second = json.loads(
        component("register")(
            gate=worse, experts=[kept["living"], kept["actions"]], dense=kept["dense"], **common
        )
    )
    (decision,) = second["promotions"]
    assert not decision["promoted"] and "does not beat champion v1" in decision["reason"]
    assert second["reused"] == ["expert-living", "expert-actions", "dense"]
    assert registry.version_for(tracking_uri, "aiprime-gate", "champion") == "1"
    assert registry.version_for(tracking_uri, "aiprime-gate", "challenger") == "2"
