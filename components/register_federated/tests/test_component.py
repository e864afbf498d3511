"""register_federated: the heads become challenger, champion only when better; the epsilon spent travels along."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from kfp import dsl
from mlflow import MlflowClient

from aiprime.federated.fitting import LocalConfig, train_central
from aiprime.federated.heads import get_weights, new_heads
from aiprime.federated.runner import task_from_splits
from aiprime.registry import mlflow_registry as registry

NAME = registry.registered_name("federated-heads")


def model_folder(artifact, splits, name: str, epochs: int, privacy: dict) -> dsl.Model:
    """A model artifact as train_federated writes it: the heads and the run's result."""
    task = task_from_splits(splits)
    heads = train_central(task, epochs, LocalConfig(batch_size=16)) if epochs else new_heads(task, 0)
    model = artifact(dsl.Model, name)
    Path(model.path).mkdir(parents=True)
    np.savez(Path(model.path) / "model.npz", *get_weights(heads))
    result = {"model_version": task.version(), "config": {"rounds": 3}, "rounds": [{}, {}, {}],
              "privacy": privacy, "val": {"macro_f1": 0.5}, "test": {"macro_f1": 0.5}}  # fmt: skip
    (Path(model.path) / "result.json").write_text(json.dumps(result))
    return model


def test_trained_heads_become_champion_and_worse_ones_stay_challenger(
    component, artifact, splits, datasets, tracking_uri: str
) -> None:
    common = {"val": datasets["val"], "mlflow_uri": tracking_uri, "experiment": "aiprime-federated",
              "data_version": "md5-1", "code_version": "sha", "pipeline_run_id": "run-1"}  # fmt: skip
    privacy = {
        "epsilon": 7.9,
        "epsilon_opacus": 7.9,
        "delta": 1e-3,
        "noise_multiplier": 1.1,
        "clipping_norm": 1.0,
    }
    first = json.loads(
        component("register_federated")(model=model_folder(artifact, splits, "a", 5, privacy), **common)
    )
    second = json.loads(
        component("register_federated")(model=model_folder(artifact, splits, "b", 0, {}), **common)
    )
    assert first["promoted"] and first["version"] == "1", first
    assert not second["promoted"] and "does not beat" in second["reason"], second
    assert registry.version_for(tracking_uri, NAME, "champion") == "1"
    client = MlflowClient(tracking_uri)
    tags = client.get_model_version(NAME, "1").tags
    assert tags["dp_epsilon"] == "7.9000" and tags["dp_delta"] == "0.001" and tags["data_version"] == "md5-1"
    assert client.get_model_version(NAME, "2").tags["dp_epsilon"].startswith("none")
    run = client.get_run(client.get_model_version(NAME, "1").run_id)
    assert run.data.metrics["dp_epsilon"] == 7.9
