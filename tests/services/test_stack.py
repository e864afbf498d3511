"""The local stack for real: embedded PostgreSQL, an MLflow server on it, a model registered through it."""

from __future__ import annotations

import socket
from pathlib import Path

import mlflow
import pytest
import sqlalchemy as sa
from _helpers import free_port
from mlflow import MlflowClient

from aiprime.db.engine import connect, current_revisions, head_revisions
from aiprime.db.urls import app_db_url
from aiprime.errors import ConfigError, PortInUse
from aiprime.services import processes, stack
from aiprime.settings import Settings


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
        assert _mlflow_job_runners(settings) == []  # AI Prime submits no MLflow jobs: no ~700 MB runner
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


def test_mlflow_connects_to_its_database_as_its_own_role(mlflow_url: str, pg_server_url: str) -> None:
    MlflowClient(mlflow_url).search_experiments()  # the server's pool holds a connection from here on
    with connect(pg_server_url).connect() as conn:
        users = set(
            conn.execute(sa.text("SELECT usename FROM pg_stat_activity WHERE datname = 'mlflow'")).scalars()
        )
    assert users == {"aiprime_mlflow"}


def test_a_tool_role_that_cannot_log_in_stops_the_stack_with_the_fix(pg_server_url: str, tmp_path) -> None:
    settings = Settings(home=tmp_path, database_url=pg_server_url, mlflow_port=free_port(), _env_file=None)
    admin = connect(pg_server_url)
    stack.prepare_app_db(settings)  # creates the roles
    with admin.begin() as conn:
        conn.execute(sa.text("ALTER ROLE aiprime_feast NOLOGIN"))  # as a role whose password is missing
    try:
        with pytest.raises(ConfigError, match=r"ALTER ROLE aiprime_feast PASSWORD .*pgpass"):
            stack.up(settings)
        assert stack.prepare_app_db(settings)  # what the gateway runs: it needs no tool's login
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text("ALTER ROLE aiprime_feast LOGIN"))
        admin.dispose()


def _mlflow_job_runners(settings: Settings) -> list[int]:
    """The pids of MLflow job runners whose parent is this stack's MLflow server."""
    server = processes.read_pid(settings.run_dir / "mlflow.pid")
    runners = []
    for proc in Path("/proc").iterdir():
        try:
            stat, cmdline = (proc / "stat").read_text(), (proc / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server and b"mlflow.server.jobs" in cmdline:
            runners.append(int(proc.name))
    return runners
