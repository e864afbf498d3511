"""A reproduced DVC checkout and registered model versions in a real MLflow, for the lineage tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from aiprime import versioning
from aiprime.registry import mlflow_registry as registry
from aiprime.training.registration import Lineage

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, subset_checkout) -> Path:
    """A 20-entry subset of the real sources, reproduced and pushed by DVC."""
    root = subset_checkout(tmp_path_factory.mktemp("lineage-repo"), limit=20)
    versioning.reproduce(root)
    versioning.push(root)
    return root


@pytest.fixture(scope="module")
def head_sha() -> str:
    """The repository's HEAD commit: a code version that names a commit."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def register(mlflow_url: str, tmp_path: Path):
    """`register(name, tags) -> version`: a new version of `name` in the session's MLflow."""
    return lambda name, tags: register_version(mlflow_url, tmp_path / "model", name, tags)


@pytest.fixture(scope="module")
def trained_tags(checkout: Path, head_sha: str) -> dict[str, str]:
    """The tags the training pipeline writes for a model trained on the checkout's classification table."""
    data_version = versioning.stage_outs(checkout, "splits")["splits/classification.parquet"]
    return Lineage(data_version, head_sha, "kfp-run-1234").tags() | {"role": "gate"}


def register_version(tracking_uri: str, folder: Path, name: str, tags: dict[str, str]) -> str:
    """Register `folder` as a new version of `name` from an MLflow run under an evaluation run, as the
    pipeline's `register` step does; its version."""
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name("aiprime-lineage-test")
    experiment = found.experiment_id if found else client.create_experiment("aiprime-lineage-test")
    parent = client.create_run(experiment, run_name="evaluation").info.run_id
    run = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pt").write_bytes(b"weights")
    version = registry.register(tracking_uri, name, folder, run, tags)
    client.set_terminated(run)
    return version
