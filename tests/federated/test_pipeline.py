"""The `federated` KFP pipeline for real, through its Dagster job: a 60-entry checkout, Flower, a real MLflow."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from _helpers.model_checkout import model_checkout
from mlflow import MlflowClient

from aiprime.orchestration.definitions import build_definitions
from aiprime.registry import mlflow_registry as registry
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NAME = registry.registered_name("federated-heads")


def materialise(settings: Settings, root: Path, **config: object) -> dg.AssetMaterialization:
    """Run the Dagster job `federated` once with `config`; its materialisation of `federated_heads`."""
    job = build_definitions(settings, root).resolve_job_def("federated")
    run_config = {"ops": {"federated_heads": {"config": {"rounds": 2, "clients": 4, **config}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, run_config=run_config)
    [materialisation] = result.asset_materializations_for_node("federated_heads")
    return materialisation


@pytest.fixture(scope="module")
def run(tmp_path_factory, subset_checkout, pg_server_url, mlflow_url, federated_venv) -> dict:
    """The job run once on a 60-entry checkout with central DP at epsilon 8; its materialisation's metadata.

    The champion gate against a better or worse champion is components/register_federated's test.
    """
    root = model_checkout(subset_checkout, tmp_path_factory.mktemp("repo"), limit=60)
    (root / ".venv-federated").symlink_to(federated_venv)
    settings = Settings(home=tmp_path_factory.mktemp("home"), database_url=pg_server_url,
                        mlflow_tracking_uri=mlflow_url, _env_file=None)  # fmt: skip
    return {k: v.value for k, v in materialise(settings, root, dp_epsilon=8.0).metadata.items()}


@pytest.mark.slow
def test_the_job_registers_the_heads_as_champion_in_a_registry_without_one(
    run: dict, mlflow_url: str
) -> None:
    assert run["promoted"] and "first version" in run["reason"], run
    assert run["registered"] == f"{NAME} v{registry.version_for(mlflow_url, NAME, 'champion')}"
    assert 0.0 <= run["test_macro_f1"] <= 1.0


@pytest.mark.slow
def test_the_epsilon_spent_is_recorded_with_the_model(run: dict, mlflow_url: str) -> None:
    version = run["registered"].rsplit(" v", 1)[1]
    tags = MlflowClient(mlflow_url).get_model_version(NAME, version).tags
    assert 0 < float(tags["dp_epsilon"]) <= 8.0, tags
    assert float(tags["dp_delta"]) < 1
    assert run["dp_epsilon"] == tags["dp_epsilon"]
