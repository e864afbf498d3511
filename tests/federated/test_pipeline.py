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
def runs(tmp_path_factory, subset_checkout, pg_server_url, mlflow_url, federated_venv) -> list:
    """The job run twice on a 60-entry checkout: plain FedAvg, then central DP at epsilon 8."""
    root = model_checkout(subset_checkout, tmp_path_factory.mktemp("repo"), limit=60)
    (root / ".venv-federated").symlink_to(federated_venv)
    settings = Settings(home=tmp_path_factory.mktemp("home"), database_url=pg_server_url,
                        mlflow_tracking_uri=mlflow_url, _env_file=None)  # fmt: skip
    return [materialise(settings, root), materialise(settings, root, dp_epsilon=8.0)]


@pytest.mark.slow
def test_the_job_registers_the_heads_with_the_champion_gate(runs: list, mlflow_url: str) -> None:
    first, second = ({k: v.value for k, v in m.metadata.items()} for m in runs)
    assert first["reason"] and second["reason"]
    champion = registry.version_for(mlflow_url, NAME, "champion")
    assert champion is not None
    promoted = [m for m in (first, second) if m["promoted"]]
    assert promoted, "a first version or a better one becomes champion"
    assert f"{NAME} v{champion}" == promoted[-1]["registered"]
    assert 0.0 <= first["test_macro_f1"] <= 1.0


@pytest.mark.slow
def test_the_epsilon_spent_is_recorded_with_the_model(runs: list, mlflow_url: str) -> None:
    second = {k: v.value for k, v in runs[1].metadata.items()}
    version = second["registered"].rsplit(" v", 1)[1]
    tags = MlflowClient(mlflow_url).get_model_version(NAME, version).tags
    assert 0 < float(tags["dp_epsilon"]) <= 8.0, tags
    assert float(tags["dp_delta"]) < 1
    assert second["dp_epsilon"] == tags["dp_epsilon"]
