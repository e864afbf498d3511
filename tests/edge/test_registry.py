"""A bundle of models fetched from a real MLflow server names each head's registered version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from aiprime.edge.bundle import Champions, build
from aiprime.edge.runtime import MANIFEST
from aiprime.moe.fitting import MODEL_FILE, expert_role
from aiprime.moe.networks import load_metadata
from aiprime.registry import mlflow_registry as registry

ALIAS = "edge-test"  # an alias of this test's own: the session's server holds other tests' champions


def register(url: str, role: str, folder: Path) -> str:
    """Register `folder` as a new version of `role` and give it ALIAS; the version."""
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("edge-test") or client.get_experiment(
        client.create_experiment("edge-test")
    )
    run = client.create_run(experiment.experiment_id)
    name = registry.registered_name(role)
    version = registry.register(url, name, folder, run.info.run_id, {})
    client.set_registered_model_alias(name, ALIAS, version)
    return version


@pytest.mark.slow
def test_the_manifest_names_the_registered_versions(mlflow_url, tmp_path, edge_champions, fitted_rows):
    versions = {"aiprime-gate": register(mlflow_url, "gate", edge_champions.gate.folder)}
    for source in edge_champions.experts.values():
        role = expert_role(load_metadata(source.folder / MODEL_FILE)["domain"])
        versions[registry.registered_name(role)] = register(mlflow_url, role, source.folder)
    fetched = Champions.from_registry(mlflow_url, tmp_path / "fetched", ALIAS)
    build(tmp_path / "bundle", fetched, fitted_rows, "dynamic")
    manifest = json.loads((tmp_path / "bundle" / MANIFEST).read_text())
    heads = [manifest["gate"], *manifest["experts"].values()]
    assert {h["registered"]: h["version"] for h in heads} == versions
    assert sorted(manifest["experts"]) == sorted(edge_champions.experts)
