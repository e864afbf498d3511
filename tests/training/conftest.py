"""Fixtures of the mixture-of-experts tests: the tiny splits and models of `_helpers.tiny_moe`, an MLflow store."""

from pathlib import Path

import pytest
from _helpers.tiny_moe import one_torch_thread, tiny_models, tiny_run, tiny_splits
from mlflow import MlflowClient

from aiprime.training.kubeflow import EXPERIMENT

__all__ = ["one_torch_thread", "tiny_models", "tiny_run", "tiny_splits"]


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh MLflow store of this test's own (registry names are global to a store)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(uri).create_experiment(EXPERIMENT, artifact_location=str(tmp_path / "mlflow-artifacts"))
    return uri
