"""A second `aiprime run` with nothing changed keeps the last training run instead of running the pipeline."""

import dataclasses
from pathlib import Path

import dagster as dg
import pytest

from aiprime.orchestration.model_reuse import champion_versions, training_key, unchanged_run
from aiprime.training.launch import TrainOptions

REPO = Path(__file__).resolve().parents[2]
MOE_MODELS = dg.AssetKey("moe_models")


def record(instance: dg.DagsterInstance, metadata: dict) -> None:
    """A materialisation of `moe_models` with `metadata`, as the last run would have left it."""

    @dg.asset(name="moe_models")
    def moe_models() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=metadata)

    assert dg.materialize([moe_models], instance=instance).success


@pytest.fixture
def last_run(tmp_path: Path, mlflow_url: str) -> dict:
    summary = tmp_path / "train.json"
    summary.write_text("{}")
    return {
        "training_key": "k1",
        "champion_versions": dg.MetadataValue.json(champion_versions(mlflow_url)),
        "summary": dg.MetadataValue.path(str(summary)),
        "mlflow_run_id": "run-1",
    }


def test_the_last_run_is_kept_when_its_key_and_champions_are_unchanged(
    last_run: dict, mlflow_url: str
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert unchanged_run(instance, MOE_MODELS, "k1", mlflow_url) is None  # no run yet
        record(instance, last_run)
        kept = unchanged_run(instance, MOE_MODELS, "k1", mlflow_url)
        assert kept is not None and kept["mlflow_run_id"] == "run-1"
        assert unchanged_run(instance, MOE_MODELS, "k2", mlflow_url) is None  # data, options or code changed


def test_a_champion_that_changed_since_or_a_lost_summary_means_the_pipeline_runs(
    last_run: dict, mlflow_url: str, tmp_path: Path
) -> None:
    moved = {**champion_versions(mlflow_url), "aiprime-gate": "999"}  # another version became champion
    with dg.DagsterInstance.ephemeral() as instance:
        record(instance, {**last_run, "champion_versions": dg.MetadataValue.json(moved)})
        assert unchanged_run(instance, MOE_MODELS, "k1", mlflow_url) is None
        record(instance, {**last_run, "summary": dg.MetadataValue.path(str(tmp_path / "gone.json"))})
        assert unchanged_run(instance, MOE_MODELS, "k1", mlflow_url) is None


def test_the_training_key_follows_the_options_but_not_the_threads() -> None:
    base = TrainOptions()
    assert training_key(REPO, base) == training_key(REPO, dataclasses.replace(base, threads=1))
    assert training_key(REPO, base) != training_key(REPO, dataclasses.replace(base, lr=0.1))
    assert training_key(REPO, base) != training_key(REPO, dataclasses.replace(base, limit=5))


@pytest.fixture(scope="module")
def materialised_twice(tmp_path_factory, subset_checkout, pg_server_url, mlflow_url):
    """The model asset of a 60-entry checkout materialised twice in one instance, nothing changed between."""
    from _helpers.model_checkout import model_checkout

    from aiprime.orchestration.runner import materialize_everything
    from aiprime.settings import Settings

    root = model_checkout(subset_checkout, tmp_path_factory.mktemp("repo"), limit=60)
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, database_url=pg_server_url, mlflow_tracking_uri=mlflow_url, _env_file=None)
    quick = {"ops": {"moe_models": {"config": {"max_epochs": 1, "lr": 0.01, "threads": 1}}}}
    first = materialize_everything(settings, root, groups=("models",), run_config=quick)
    logs_after_first = sorted((home / "logs").glob("train-*.log"))
    second = materialize_everything(settings, root, groups=("models",), run_config=quick)
    return first, second, logs_after_first, sorted((home / "logs").glob("train-*.log"))


@pytest.mark.slow
def test_a_second_materialisation_with_nothing_changed_keeps_the_first_run(materialised_twice) -> None:
    first, second, logs_after_first, logs_after_second = materialised_twice
    [trained] = first.asset_materializations_for_node("moe_models")
    [kept] = second.asset_materializations_for_node("moe_models")
    assert logs_after_second == logs_after_first  # no pipeline ran the second time
    assert kept.metadata["kept"].value is True and "kept" not in trained.metadata
    assert kept.tags["dagster/data_version"] == trained.tags["dagster/data_version"]
    assert kept.metadata["system.accuracy"].value == trained.metadata["system.accuracy"].value
    [check] = second.get_asset_check_evaluations()
    assert check.passed and "nothing changed" in check.description
