"""The drift check as Dagster runs it: real glosses in the real request log, a real shift, the sensor's verdict."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from _helpers.gates import train_gate

from aiprime.db.engine import connect
from aiprime.drift.reference import train_sample
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.moe.embeddings import embed_texts
from aiprime.orchestration.definitions import build_definitions
from aiprime.orchestration.drift_assets import RETRAIN_CONFIG, drift_sensor, traffic_drift, weekly_retrain
from aiprime.orchestration.resources import Workspace
from aiprime.serving.served_models import gate_routes, load_served
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
REFERENCE_SIZE = 300  # of the subset's 472 train rows
WINDOW = 120


@pytest.fixture(scope="module")
def table(subset_splits: Path) -> Path:
    return subset_splits / "classification.parquet"


@pytest.fixture(scope="module")
def gate_dir(table: Path, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_gate(table, embedding_cache, tmp_path_factory.mktemp("gate"))


@pytest.fixture(scope="module")
def traffic(table: Path, gate_dir: Path, embedding_cache: Path) -> dict[str, list[LoggedRequest]]:
    """Requests as the gate would log them: the training mix (rows outside the reference) and verbs only."""
    rows = pd.read_parquet(table, columns=["text", "domain"])
    _, reference = train_sample(table, REFERENCE_SIZE)
    same = rows[~rows.index.isin(reference.index)].sample(WINDOW, random_state=1)
    verbs = rows[rows.domain == "actions"].sample(WINDOW, random_state=1)
    gate = load_served(gate_dir / "model.pt", "gate")
    windows = {}
    for name, part in {"same": same, "verbs": verbs}.items():
        embeddings = embed_texts(part.text.tolist(), embedding_cache)  # (WINDOW, 384)
        windows[name] = [
            LoggedRequest("", e, route, 0.9)
            for e, route in zip(embeddings, gate_routes(gate, embeddings), strict=True)
        ]
    return windows


@pytest.fixture
def workspace(
    table: Path, embedding_cache: Path, pg_server_url: str, app_db_url: str, tmp_path: Path
) -> Workspace:
    """A checkout holding the subset table, and a state folder that shares the embedding cache."""
    (tmp_path / "repo" / "data" / "splits").mkdir(parents=True)
    (tmp_path / "repo" / "data" / "splits" / "classification.parquet").symlink_to(table)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "embeddings").symlink_to(embedding_cache)
    return Workspace(
        tmp_path / "repo", Settings(home=tmp_path / "home", database_url=pg_server_url, _env_file=None)
    )


def _log_window(app_db_url: str, requests: list[LoggedRequest]) -> str:
    """Log requests under a fresh model name (the session's log is shared); the name."""
    model = f"gate-{uuid.uuid4().hex[:8]}"
    engine = connect(app_db_url)
    log_requests(
        engine, [LoggedRequest(model, r.embedding, r.expert, r.expert_probability) for r in requests]
    )
    engine.dispose()
    return model


def _check(
    workspace: Workspace, instance: dg.DagsterInstance, model: str, gate_dir: Path
) -> dg.AssetMaterialization:
    config = {
        "model": model,
        "gate_dir": str(gate_dir),
        "window": WINDOW,
        "min_requests": 50,
        "reference_size": REFERENCE_SIZE,
    }
    result = dg.materialize(
        [traffic_drift],
        instance=instance,
        resources={"workspace": workspace},
        run_config={"ops": {"traffic_drift": {"config": config}}},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("traffic_drift")
    return materialization


@pytest.mark.slow
def test_verb_only_traffic_starts_retraining_once(workspace, traffic, gate_dir, app_db_url) -> None:
    model = _log_window(app_db_url, traffic["verbs"])
    with dg.DagsterInstance.ephemeral() as instance:
        materialization = _check(workspace, instance, model, gate_dir)
        context = dg.build_sensor_context(instance=instance)
        request = drift_sensor(context)
        again = drift_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["drifted"] and metadata["requests"] == WINDOW and metadata["mmd_p_value"] < 0.01
    assert isinstance(request, dg.RunRequest), request
    assert request.job_name == "retrain" and request.run_config == RETRAIN_CONFIG
    assert request.tags["aiprime/drift_report"] == metadata["report"]
    report = Path(metadata["report"])
    assert report.parent == workspace.settings.home / "reports" and report.name.startswith("drift-")
    assert "AI Prime drift verdict: DRIFT" in report.read_text()
    assert isinstance(again, dg.SkipReason) and "judged" in again.skip_message


@pytest.mark.slow
def test_traffic_of_the_training_mix_is_skipped_with_its_p_values(
    workspace, traffic, gate_dir, app_db_url
) -> None:
    model = _log_window(app_db_url, traffic["same"])
    with dg.DagsterInstance.ephemeral() as instance:
        materialization = _check(workspace, instance, model, gate_dir)
        verdict = drift_sensor(dg.build_sensor_context(instance=instance))
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert not metadata["drifted"], metadata
    assert isinstance(verdict, dg.SkipReason), verdict
    assert f"p={metadata['mmd_p_value']:.3g}" in verdict.skip_message
    assert f"p={metadata['chi2_p_value']:.3g}" in verdict.skip_message
    assert Path(metadata["report"]).is_file()


def test_too_little_traffic_is_reported_not_failed(workspace, traffic, gate_dir, app_db_url) -> None:
    model = _log_window(app_db_url, traffic["verbs"][:10])
    with dg.DagsterInstance.ephemeral() as instance:
        materialization = _check(workspace, instance, model, gate_dir)
        verdict = drift_sensor(dg.build_sensor_context(instance=instance))
    assert materialization.metadata["status"].value == "not enough traffic"
    assert materialization.metadata["requests"].value == 10
    assert isinstance(verdict, dg.SkipReason) and "not enough traffic" in verdict.skip_message
    assert not (workspace.settings.home / "reports").exists()


def test_the_sensor_waits_for_a_first_drift_check() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        verdict = drift_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(verdict, dg.SkipReason) and "never materialised" in verdict.skip_message


def test_definitions_hold_the_retrain_job_the_drift_sensor_and_the_weekly_schedule(tmp_path: Path) -> None:
    defs = build_definitions(Settings(home=tmp_path, _env_file=None), REPO)
    retrain = defs.resolve_job_def("retrain")
    assert retrain.asset_layer.executable_asset_keys == {
        dg.AssetKey("gate_feedback"),
        dg.AssetKey("moe_models"),
    }
    assert defs.resolve_sensor_def("drift_sensor").job_name == "retrain"
    schedule = defs.resolve_schedule_def("weekly_retrain")
    assert (schedule.job_name, schedule.cron_schedule) == ("retrain", "0 3 * * 1")
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("traffic_drift")).group_name == "drift"
    assert dg.AssetKey("gate_feedback") in graph.get(dg.AssetKey("moe_models")).parent_keys
    assert dg.AssetKey("moe_models") in graph.get(dg.AssetKey("traffic_drift")).parent_keys


def test_the_weekly_schedule_retrains_regardless_of_traffic() -> None:
    monday = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        data = weekly_retrain.evaluate_tick(
            dg.build_schedule_context(instance, scheduled_execution_time=monday)
        )
    (request,) = data.run_requests
    assert request.run_config == RETRAIN_CONFIG
