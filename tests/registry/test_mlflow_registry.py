"""The champion gate on a real MLflow server: first version wins, a worse challenger is refused."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from aiprime.errors import ModelNotReady
from aiprime.registry import mlflow_registry as registry


def _candidate(url: str, tmp_path, name: str, content: str) -> str:
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("registry-test") or client.get_experiment(
        client.create_experiment("registry-test")
    )
    run = client.create_run(experiment.experiment_id)
    folder = tmp_path / content
    folder.mkdir()
    (folder / "weights.bin").write_text(content)
    return registry.register(url, name, folder, run.info.run_id, {"data_version": "md5-" + content})


@pytest.mark.slow
def test_a_worse_challenger_does_not_replace_the_champion(mlflow_url, tmp_path) -> None:
    name = registry.registered_name("gate-test")
    first = _candidate(mlflow_url, tmp_path, name, "first")
    assert registry.promote(mlflow_url, name, 0.70, None).promoted
    second = _candidate(mlflow_url, tmp_path, name, "second")
    decision = registry.promote(mlflow_url, name, 0.65, 0.70)
    assert not decision.promoted and "does not beat" in decision.reason
    assert registry.version_for(mlflow_url, name, "champion") == first
    assert registry.version_for(mlflow_url, name, "challenger") == second
    third = _candidate(mlflow_url, tmp_path, name, "third")
    assert registry.promote(mlflow_url, name, 0.75, 0.70).promoted
    assert registry.version_for(mlflow_url, name, "champion") == third
    folder = registry.download(mlflow_url, name, "champion", tmp_path / "dl")
    assert (folder / "weights.bin").read_text() == "third"
    tags = MlflowClient(mlflow_url).get_model_version(name, third).tags
    assert tags["data_version"] == "md5-third" and "beats champion" in tags["promotion"]


@pytest.mark.slow
def test_loading_a_model_without_a_champion_says_how_to_get_one(mlflow_url, tmp_path) -> None:
    with pytest.raises(ModelNotReady, match="aiprime train"):
        registry.download(mlflow_url, "aiprime-never-trained", "champion", tmp_path)
