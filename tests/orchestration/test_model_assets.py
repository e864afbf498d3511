"""The model asset for real: Dagster runs the compiled KFP pipeline on a 60-entry checkout into a real MLflow."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from _helpers.model_checkout import model_checkout

from aiprime.errors import StageFailed
from aiprime.orchestration.definitions import build_definitions
from aiprime.orchestration.model_assets import champion_gate_result
from aiprime.orchestration.runner import materialize_everything
from aiprime.registry import mlflow_registry as registry
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
QUICK = {"ops": {"moe_models": {"config": {"max_epochs": 2, "lr": 0.01, "threads": 1, "retrain": True}}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, subset_checkout, pg_server_url, mlflow_url):
    """A 60-entry checkout (4 of the 6 domains) whose model asset was materialised once."""
    root = model_checkout(subset_checkout, tmp_path_factory.mktemp("repo"), limit=60)
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=pg_server_url,
        mlflow_tracking_uri=mlflow_url,
        _env_file=None,
    )
    return settings, materialize_everything(settings, root, groups=("models",), run_config=QUICK)


@pytest.mark.slow
def test_the_model_asset_records_the_run_scores_and_champions(trained, mlflow_url: str) -> None:
    _, result = trained
    [materialisation] = result.asset_materializations_for_node("moe_models")
    metadata = {key: value.value for key, value in materialisation.metadata.items()}
    assert materialisation.tags["dagster/data_version"] == metadata["mlflow_run_id"]
    assert 0.0 <= metadata["system.accuracy"] <= 1.0 and "dense.accuracy" in metadata
    champions = metadata["champions"]
    assert {"aiprime-gate", "aiprime-dense", "aiprime-expert-actions"} <= set(champions)
    for name, decision in champions.items():
        assert decision["reason"], name
        if decision["promoted"]:
            assert registry.version_for(mlflow_url, name, "champion") == decision["version"], name
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "challengers_beat_champions"
    assert check.passed == all(d["promoted"] for d in champions.values())


def test_the_champion_gate_check_warns_naming_each_challenger_that_lost() -> None:
    promotions = [
        {"name": "aiprime-gate", "promoted": True, "reason": "aiprime-gate v2 beats champion v1"},
        {
            "name": "aiprime-dense",
            "promoted": False,
            "reason": "aiprime-dense v2 (0.41) does not beat champion v1 (0.76)",
        },
    ]
    check = champion_gate_result(promotions)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == "aiprime-dense v2 (0.41) does not beat champion v1 (0.76)"
    assert champion_gate_result(promotions[:1]).passed


def test_the_model_asset_is_downstream_of_the_classification_table(tmp_path: Path) -> None:
    graph = build_definitions(Settings(home=tmp_path, _env_file=None), REPO).resolve_asset_graph()
    assert dg.AssetKey("classification") in graph.get(dg.AssetKey("moe_models")).parent_keys


def test_with_a_kfp_host_the_asset_submits_there_and_a_dead_host_is_one_error(
    tmp_path: Path, pg_server_url: str
) -> None:
    settings = Settings(
        home=tmp_path, database_url=pg_server_url, kfp_host="http://127.0.0.1:9", _env_file=None
    )
    with pytest.raises(
        StageFailed,
        match=r"'moe_models' failed: Cannot submit to Kubeflow Pipelines at "
        r"http://127\.0\.0\.1:9.*Check --host",
    ):
        materialize_everything(settings, REPO, groups=("models",))
    assert not (tmp_path / "kfp").exists()  # nothing ran here with kfp.local
