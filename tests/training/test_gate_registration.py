"""A calibrated gate registered in MLflow carries its temperature and threshold (tags) and calibration (params)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from aiprime.moe import fitting
from aiprime.moe.networks import load_metadata
from aiprime.registry import mlflow_registry as registry
from aiprime.training.kubeflow import EXPERIMENT
from aiprime.training.registration import Lineage, register_candidate

pytestmark = pytest.mark.slow


def test_a_registered_gate_carries_its_calibration(tmp_path: Path, tiny_splits: dict, tiny_run) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(uri).create_experiment(EXPERIMENT, artifact_location=str(tmp_path / "mlflow-artifacts"))
    gate = fitting.train_gate(tiny_splits["train"], tiny_splits["val"], tmp_path / "gate", tiny_run)
    calibration = load_metadata(gate / fitting.MODEL_FILE)["calibration"]
    promotion = register_candidate(uri, gate, tiny_splits["val"], Lineage("md5-x", "abc", "run-1"), "")
    client = MlflowClient(uri)
    version = client.get_model_version(registry.registered_name("gate"), promotion.challenger)
    assert float(version.tags["temperature"]) == pytest.approx(calibration["temperature"])
    assert float(version.tags["threshold"]) == pytest.approx(calibration["threshold"])
    params = client.get_run(version.run_id).data.params
    assert float(params["calibration.ece_after"]) == pytest.approx(calibration["ece_after"])
