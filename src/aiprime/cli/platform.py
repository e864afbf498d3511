"""`aiprime run` (the main job) and `aiprime ui` (the Dagster UI on its lineage)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from aiprime import versioning
from aiprime.cli.render import console, datasets_table, services_table
from aiprime.services import processes, stack
from aiprime.settings import Settings


def run() -> None:
    """Run the platform's main job on embedded defaults: services up, then every Dagster asset materialised."""
    from aiprime.orchestration.runner import materialize_everything  # Dagster is slow to import: on use

    settings = Settings()
    root = versioning.find_repo_root(Path.cwd())
    with console.status("starting PostgreSQL and MLflow"):
        statuses = stack.up(settings)
    with console.status("materialising every asset through Dagster (data: DVC raw -> processed -> splits)"):
        result = materialize_everything(settings, root)
    versioning.push(root)
    console.print(services_table(statuses))
    console.print(datasets_table(versioning.read_versions(root)))
    console.print(f"Dagster run {result.run_id}: see the lineage with `aiprime ui` "
                  f"(http://{settings.host}:{settings.dagster_port})")
    console.print(f"state (database, MLflow artifacts, DVC remote, logs): {settings.home}")


def ui() -> None:
    """Start the Dagster UI (webserver and daemon) on 127.0.0.1 with the lineage `aiprime run` recorded."""
    from aiprime.orchestration.runner import ui_command

    settings = Settings()
    versioning.find_repo_root(Path.cwd())
    processes.require_free_port(settings.host, settings.dagster_port, "the Dagster UI", "AIPRIME_DAGSTER_PORT")
    argv, env = ui_command(settings)
    console.print(f"Dagster UI on http://{settings.host}:{settings.dagster_port} (Ctrl-C stops it)")
    subprocess.run(argv, env={**os.environ, **env}, check=False)  # noqa: S603
