"""Run the Dagster definitions in-process on a PostgreSQL-backed instance, the one the UI shows."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from aiprime.db.engine import ensure_databases
from aiprime.db.urls import parse_url, tool_db_url
from aiprime.errors import AIPrimeError, StageFailed
from aiprime.orchestration.definitions import build_definitions
from aiprime.orchestration.lineage_events import SENT_BY_RUNNER, emit_run
from aiprime.orchestration.run_log import LOGGER, dagster_logging_to, run_logger
from aiprime.provenance.openlineage import Emitter
from aiprime.services import stack
from aiprime.settings import Settings


def dagster_home(settings: Settings) -> Path:
    """`settings.home/dagster` with a dagster.yaml that keeps runs, events and schedules in PostgreSQL."""
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    server = stack.server_url(settings)
    ensure_databases(server)
    # dagster-postgres binds NOTIFY parameters client-side: psycopg2, not SQLAlchemy 2.1's default psycopg 3
    url = parse_url(tool_db_url(server, "dagster")).set(drivername="postgresql+psycopg2")
    config = {
        "storage": {"postgres": {"postgres_url": url.render_as_string(hide_password=False)}},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def run_log_path(settings: Settings) -> Path:
    """The log file of a run's Dagster lines (and of `aiprime run`'s warnings): `<AIPRIME_HOME>/logs/run.log`."""
    return settings.log_dir / "run.log"


def materialize_everything(
    settings: Settings, repo_root: Path, groups: Sequence[str] | None = None, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """Materialise every asset (or those of `groups`) and run their checks; send their OpenLineage events.

    Raises:
        StageFailed: names the first failed step or failed check of ERROR severity (WARN checks, such as
            a challenger that did not beat its champion, are recorded in Dagster and do not raise).
    """
    home = dagster_home(settings)
    os.environ["DAGSTER_HOME"] = str(home)  # the instance and any subprocess Dagster starts read it
    defs = build_definitions(settings, repo_root)
    log_file = run_log_path(settings)  # Dagster's lines go there; its steps report as progress stages
    job = defs.resolve_job_def("everything").with_logger_defs({LOGGER: run_logger(log_file)})
    selection = None
    if groups:
        graph = defs.resolve_asset_graph()
        selection = [key for key in graph.materializable_asset_keys if graph.get(key).group_name in groups]
    with dg.DagsterInstance.get() as instance, dagster_logging_to(log_file):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=selection,
            run_config={"loggers": {LOGGER: {}}} | (run_config or {}),
            tags={SENT_BY_RUNNER: "true"},
        )
        emit_run(Emitter(settings), instance, result.run_id, defs.resolve_asset_graph())
    _raise_on_failure(result)
    return result


def _telling_error(error: Any) -> Any:
    """The error to show for a failed step: the first AI Prime error in Dagster's cause chain (its message
    states the fix), else the root cause (Dagster wraps the step's own exception)."""
    ours = {cls.__name__ for cls in _subclasses(AIPrimeError)}
    while error is not None and error.cause is not None and error.cls_name not in ours:
        error = error.cause
    return error


def _subclasses(cls: type) -> list[type]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _subclasses(child))]


def _raise_on_failure(result: dg.ExecuteInProcessResult) -> None:
    failures = [e for e in result.all_events if e.is_step_failure]
    if failures:
        error = _telling_error(failures[0].step_failure_data.error)
        message = error.message.strip().splitlines()[-1] if error else "no message"
        message = message.split(f"{error.cls_name}: ", 1)[-1] if error else message  # drop "module.Class: "
        raise StageFailed(f"Dagster step {failures[0].step_key!r} failed: {message}")
    failed_checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
        and e.asset_check_evaluation_data.severity == dg.AssetCheckSeverity.ERROR
    ]
    if failed_checks:
        check = failed_checks[0]
        raise StageFailed(
            f"Asset check {check.check_name!r} on {check.asset_key.to_user_string()} failed: "
            f"{check.description}. Fix the data or the code, then run again."
        )


def ui_command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The `dagster dev` command line (webserver and daemon) and environment for these definitions."""
    argv = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "aiprime.orchestration.definitions",
        "--host",
        settings.host,
        "--port",
        str(settings.dagster_port),
    ]
    return argv, {"DAGSTER_HOME": str(dagster_home(settings))}
