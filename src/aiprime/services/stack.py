"""The local stack: PostgreSQL (embedded unless AIPRIME_DATABASE_URL is set) and an MLflow server on it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from aiprime.db import embedded, urls
from aiprime.db.engine import connect, ensure_databases, migrate, open_app_db
from aiprime.errors import ConfigError, ServiceUnavailable
from aiprime.services import processes
from aiprime.settings import Settings

MLFLOW_START_TIMEOUT_S = 120.0  # the first start runs MLflow's own migrations (about 15 s here)


@dataclass(frozen=True)
class ServiceStatus:
    """One line of `aiprime services status`."""

    name: str
    running: bool
    url: str
    detail: str


def server_url(settings: Settings, start: bool = True) -> str:
    """The URL of the PostgreSQL server (its `postgres` database), starting the embedded one unless told not to.

    Only the edges (the CLI, Dagster's resources, a server's `__main__`) start it; the library resolves the URL
    with `aiprime.db.urls.server_url`, which is what this returns when nothing needs starting.
    """
    if start and not settings.database_url:
        return embedded.start_embedded(settings.pg_dir)
    return urls.server_url(settings)


def prepare_app_db(settings: Settings) -> str:
    """Start PostgreSQL if needed, create the per-tool databases, migrate ours; return its URL.

    Open it afterwards with `aiprime.db.engine.open_app_db`, the one way in.
    """
    ensure_databases(server_url(settings))
    app_url = urls.app_db_url(settings)
    migrate(app_url)
    return app_url


def check_tool_logins(server: str) -> None:
    """ConfigError naming the fix when a tool's own role cannot log in (a server that asks for a password)."""
    for tool, role in urls.TOOL_ROLES.items():
        try:
            connect(urls.tool_db_url(server, tool)).dispose()
        except ServiceUnavailable as e:
            reason = str(getattr(e.__cause__, "orig", e)).strip().splitlines()[0]
            raise ConfigError(
                f"{tool} connects to its database as the role {role!r}, which could not log in ({reason}). Set its "
                f"password once as an administrator (ALTER ROLE {role} PASSWORD '...') and put it in the "
                f"pgpass file of the user running AI Prime (~/.pgpass or PGPASSFILE: HOST:PORT:{tool}:{role}:"
                "PASSWORD, mode 0600); docs/runbook.md, 'Database roles'."
            ) from e


def ready_app_db(settings: Settings) -> Engine:
    """The `aiprime` database for a command or a Dagster resource: started if needed, migrated, opened."""
    prepare_app_db(settings)
    return open_app_db(settings)


def up(settings: Settings) -> list[ServiceStatus]:
    """Start PostgreSQL, create the per-tool databases and roles, migrate the schema, start MLflow; idempotent."""
    prepare_app_db(settings)
    check_tool_logins(server_url(settings))  # MLflow here, Dagster's and Feast's stores after
    if not settings.mlflow_tracking_uri:
        _start_mlflow(settings, urls.tool_db_url(server_url(settings), "mlflow"))
    return status(settings)


def _start_mlflow(settings: Settings, backend_url: str) -> None:
    pid_file, log_file = settings.run_dir / "mlflow.pid", settings.log_dir / "mlflow.log"
    if processes.read_pid(pid_file) is None:
        processes.require_free_port(settings.host, settings.mlflow_port, "MLflow", "AIPRIME_MLFLOW_PORT")
        settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend_url,
            "--artifacts-destination",
            str(settings.mlflow_artifacts_dir),
            "--serve-artifacts",
            "--host",
            settings.host,
            "--port",
            str(settings.mlflow_port),
            "--workers",
            "1",
        ]
        # MLflow's telemetry thread fails offline and races requests for an environment variable. Its job
        # runner (one process and three huey consumers, ~700 MB) runs GenAI jobs that AI Prime never submits.
        env = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        processes.start_detached(argv, pid_file, log_file, env=env)
    processes.wait_http(f"{settings.mlflow_url}/health", MLFLOW_START_TIMEOUT_S, pid_file, log_file, "MLflow")


def down(settings: Settings) -> list[str]:
    """Stop MLflow and the embedded PostgreSQL; return the names of the services that were stopped."""
    stopped = []
    if processes.stop_process(settings.run_dir / "mlflow.pid"):
        stopped.append("mlflow")
    if not settings.database_url and embedded.stop_embedded(settings.pg_dir):
        stopped.append("postgresql")
    return stopped


def status(settings: Settings) -> list[ServiceStatus]:
    """What runs now, without starting anything."""
    if settings.database_url:
        pg = ServiceStatus("postgresql", True, _hide_password(settings.database_url), "external")
    else:
        url = embedded.running_url(settings.pg_dir)
        pg = ServiceStatus(
            "postgresql", url is not None, url or str(settings.pg_dir), f"embedded, {settings.pg_dir}"
        )
    mlflow_up = processes.http_ok(f"{settings.mlflow_url}/health")
    where = "external" if settings.mlflow_tracking_uri else f"artifacts in {settings.mlflow_artifacts_dir}"
    return [pg, ServiceStatus("mlflow", mlflow_up, settings.mlflow_url, where)]


def _hide_password(url: str) -> str:
    return urls.parse_url(url).render_as_string(hide_password=True)
