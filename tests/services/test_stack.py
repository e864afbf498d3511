"""The local stack for real: embedded PostgreSQL, an MLflow server on it, a model registered through it."""

from __future__ import annotations

import socket

import mlflow
import pytest
from mlflow import MlflowClient

from aiprime.db.engine import current_revisions, head_revisions
from aiprime.db.urls import app_db_url
from aiprime.errors import PortInUse
from aiprime.services import stack


@pytest.mark.slow
def test_up_registers_a_model_in_mlflow_then_down_keeps_the_data(settings) -> None:
    try:
        statuses = {s.name: s for s in stack.up(settings)}
        assert statuses["postgresql"].running and statuses["mlflow"].running
        assert current_revisions(app_db_url(settings)) == head_revisions()
        client = MlflowClient(settings.mlflow_url)
        experiment = client.create_experiment("foundation-test")
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "accuracy", 0.5)
        client.create_registered_model("demo")
        version = client.create_model_version("demo", f"runs:/{run.info.run_id}/model", run.info.run_id)
        client.set_registered_model_alias("demo", "champion", version.version)
        assert stack.up(settings)  # idempotent: joins the running services
    finally:
        assert set(stack.down(settings)) == {"mlflow", "postgresql"}
    assert not any(s.running for s in stack.status(settings))
    stack.up(settings)
    try:
        champion = MlflowClient(settings.mlflow_url).get_model_version_by_alias("demo", "champion")
        assert champion.run_id == run.info.run_id
        assert MlflowClient(settings.mlflow_url).get_run(run.info.run_id).data.metrics["accuracy"] == 0.5
    finally:
        stack.down(settings)
        mlflow.set_tracking_uri(None)


def test_an_occupied_mlflow_port_fails_with_the_fix_and_postgres_keeps_running(settings) -> None:
    with socket.socket() as sock:
        sock.bind((settings.host, settings.mlflow_port))
        sock.listen()
        try:
            with pytest.raises(PortInUse, match="AIPRIME_MLFLOW_PORT"):
                stack.up(settings)
            assert current_revisions(app_db_url(settings)) == head_revisions()
        finally:
            stack.down(settings)
