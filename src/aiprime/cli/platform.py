"""`aiprime run` (the main job) and `aiprime ui` (the Dagster UI on its lineage)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from rich.table import Table

from aiprime import versioning
from aiprime.cli.render import console, datasets_table, services_table
from aiprime.cli.train import print_summary
from aiprime.services import processes, stack
from aiprime.settings import Settings


def run() -> None:
    """Run the platform's main job: services up, every Dagster asset materialised, sample queries served."""
    from aiprime.orchestration.runner import materialize_everything  # Dagster is slow to import: on use
    from aiprime.serving import samples  # the router and the KServe client too

    settings = Settings()
    root = versioning.find_repo_root(Path.cwd())
    with console.status("starting PostgreSQL and MLflow"):
        statuses = stack.up(settings)
    console.print("Materialising every Dagster asset: data (DVC raw -> processed -> splits), features, models "
                  f"(the moe-training pipeline; task logs in {settings.log_dir}/train-*.log).")
    with console.status("materialising"):
        result = materialize_everything(settings, root)
    versioning.push(root)
    console.print(services_table(statuses))
    console.print(datasets_table(versioning.read_versions(root)))
    training = training_summary(result)
    if training:
        print_summary(training, settings, console)
    with console.status("serving the champions: gate, experts, combiner and the InferenceGraph router"):
        served, answers = samples.serve_and_ask(settings)
    console.print(answers_table(answers, served.graph))
    console.print(f"The serving stack keeps running: router {served.router_url}. Try "
                  "`aiprime ask \"a cat that purrs\"`; stop it with `aiprime serve stop`.", highlight=False)
    console.print(f"Dagster run {result.run_id}: see the lineage with `aiprime ui` "
                  f"(http://{settings.host}:{settings.dagster_port})")
    console.print(f"state (database, MLflow artifacts, DVC remote, logs): {settings.home}")


def answers_table(answers: list, graph: str) -> Table:
    """One row per sample query: the gate's route and the answer."""
    table = Table(title=f"Sample queries through the InferenceGraph ({graph})")
    for column in ("query", "route (gate probability)", "answered by", "prediction"):
        table.add_column(column, overflow="fold")
    for a in answers:
        route = ", ".join(f"{e} {p:.2f}" for e, p in list(zip(a.experts, a.probabilities, strict=True))[:2])
        table.add_row(a.text, route, ", ".join(a.answered_by), f"{a.label} ({a.scores[a.label]:.2f})")
    return table


def training_summary(result: Any) -> dict[str, Any] | None:
    """The summary of the training run that the `moe_models` materialisation recorded, if it ran."""
    events = result.asset_materializations_for_node("moe_models")
    if not events:
        return None
    return json.loads(Path(events[-1].metadata["summary"].value).read_text())


def ui() -> None:
    """Start the Dagster UI (webserver and daemon) on 127.0.0.1 with the lineage `aiprime run` recorded."""
    from aiprime.orchestration.runner import ui_command

    settings = Settings()
    versioning.find_repo_root(Path.cwd())
    processes.require_free_port(settings.host, settings.dagster_port, "the Dagster UI", "AIPRIME_DAGSTER_PORT")
    argv, env = ui_command(settings)
    console.print(f"Dagster UI on http://{settings.host}:{settings.dagster_port} (Ctrl-C stops it)")
    subprocess.run(argv, env={**os.environ, **env}, check=False)
