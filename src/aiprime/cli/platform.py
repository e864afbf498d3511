"""`aiprime run` (the main job) and `aiprime ui` (the Dagster UI on its lineage)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aiprime import versioning
from aiprime.cli.gateway import print_console_login
from aiprime.cli.logfile import run_log, warnings_to_log
from aiprime.cli.render import (
    StageDisplay,
    console,
    datasets_table,
    duration,
    services_table,
    stage_times_table,
)
from aiprime.cli.train import print_summary
from aiprime.observability import progress
from aiprime.services import processes, stack
from aiprime.services.stack import ServiceStatus
from aiprime.services.supervise import interrupt_on_stop_signals, run_supervised
from aiprime.settings import Settings

REPLY_CHARS = 240  # of an answer in the summary's table; `aiprime ask` shows it whole


def run() -> None:
    """Run the platform's main job: services up, every Dagster asset materialised, sample queries served."""
    settings = Settings()
    # The display shows progress: not also the progress bars of the Hugging Face libraries as models load.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Dagster's beta and deprecation warnings go to the log: the console shows progress and results only.
    with warnings_to_log(run_log(settings)), interrupt_on_stop_signals():  # SIGTERM stops it as Ctrl-C does
        main_job(settings)


def main_job(settings: Settings) -> None:
    """The main job, showing each stage's progress on the console, then the results and the time per stage."""
    root, started = versioning.find_repo_root(Path.cwd()), time.time()
    display = StageDisplay(Console(file=sys.stdout))  # the terminal: not where the run sends stray prints
    with display, progress.reporting_to(display):
        statuses, result = run_stages(settings, root)
    print_results(settings, root, statuses, result)
    early = metadata_of(result, "first_answer")
    if early:
        console.print(first_answer_line(early, started), highlight=False)
    console.print(stage_times_table(display.done_stages))


def run_stages(settings: Settings, root: Path) -> tuple[list[ServiceStatus], Any]:
    """Services up, every Dagster asset materialised, the data pushed: the statuses and the Dagster result."""
    from aiprime.orchestration.runner import materialize_everything  # Dagster is slow to import: on use

    with progress.stage("services up (PostgreSQL, MLflow)"):
        statuses = stack.up(settings)
    console.print(
        "Materialising every Dagster asset: data (DVC raw -> processed -> splits), features, models "
        f"(the moe-training pipeline; task logs in {settings.log_dir}/train-*.log), WordNet in the store, "
        "then a first answer through the graph: the stack serves from there (`aiprime ask`) while FOLDOC, "
        "the Python docs, the index and the re-ranker fill in; drift; and the deployment (the stack "
        "restarted on everything, answering sample queries). Dagster's lines "
        f"and warnings go to {run_log(settings)}.",
        highlight=False,
    )
    with progress.stage("every Dagster asset"):
        result = materialize_everything(settings, root)
    with progress.stage("DVC push"):
        versioning.push(root)
    return statuses, result


def print_results(settings: Settings, root: Path, statuses: list[ServiceStatus], result: Any) -> None:
    """The summary: services, datasets, training scores, sample answers, the Dagster run, the state."""
    console.print(services_table(statuses))
    console.print(datasets_table(versioning.read_versions(root)))
    training = training_summary(result)
    if training:
        print_summary(training, settings, console)
    if (metadata_of(result, "moe_models") or {}).get("kept"):
        console.print(
            f"Training: nothing changed since MLflow run {training['mlflow_run_id']} (data, settings, code, "
            "champions), so the pipeline did not run; the scores above are that run's. "
            "`aiprime train --retrain` trains again.",
            highlight=False,
        )
    deployed = metadata_of(result, "deployment")
    if deployed:
        console.print(answers_table(deployed["answers"], deployed["graph"], deployed["versions"]))
        console.print(
            f"The serving stack keeps running: router {deployed['router']}. Try "
            '`aiprime ask "a cat that purrs"`; stop it with `aiprime serve stop`.',
            highlight=False,
        )
        if deployed.get("gateway"):
            print_console_login(settings, deployed["gateway"])
    console.print(
        f"Dagster run {result.run_id}: see the lineage with `aiprime ui` "
        f"(http://{settings.host}:{settings.dagster_port})"
    )
    console.print(
        f"state (database, MLflow artifacts, DVC remote, logs): {settings.home}; warnings: {run_log(settings)}"
    )


def first_answer_line(early: dict[str, Any], started: float) -> str:
    """When the first question was answered through the graph, on what, and what was still to come then."""
    at = time.strftime("%H:%M:%S", time.localtime(early["answered_at"]))
    answer = early["answer"]
    said = f"{answer['text']!r} -> {answer['label']}" + (f" ({answer['mode']})" if answer.get("mode") else "")
    line = (
        f"First answer through the graph at {at}, {duration(early['answered_at'] - started)} after "
        f"`aiprime run` started: {said}; {early['stack']}, {early['chunks_served']:,} chunks in the store."
    )
    if early["still_filling"]:
        line += (
            f" Still filling in while it served: {', '.join(early['still_filling'])}; "
            "the stack was restarted on all of them above."
        )
    return line


def answers_table(answers: list[dict], graph: str, versions: dict[str, str | None]) -> Table:
    """One row per sample query: the gate's route and the answer; the served versions as caption."""
    table = Table(title=f"Sample queries through the InferenceGraph ({graph})")
    grounded = any(a.get("reply") for a in answers)  # the RAG graph: the generator's answer and citations
    columns = ("query", "route (gate probability)", "answered by", "prediction")
    for column in columns + (("answer (mode) [citations]",) if grounded else ()):
        table.add_column(escape(column), overflow="fold")  # a bracketed word is markup to rich
    for a in answers:
        route = ", ".join(f"{expert} {p:.2f}" for expert, p in a["route"].items())
        row = [escape(a["text"]), route, ", ".join(a["answered_by"]), f"{a['label']} ({a['score']:.2f})"]
        mode = f"({a['mode']}) " if a.get("mode") else ""  # generated, extractive or abstained
        shown = shortened(a.get("reply") or "")  # a quoted docs section runs to a thousand characters
        reply = escape(f"{mode}{shown} [{', '.join(a.get('citations') or [])}]")  # ids look like markup
        table.add_row(*row, *((reply,) if grounded else ()))
    table.caption = "served: " + ", ".join(f"{name} v{version}" for name, version in versions.items())
    return table


def shortened(text: str, limit: int = REPLY_CHARS) -> str:
    """`text` with its whitespace collapsed, cut at the last word within `limit` characters and marked."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def metadata_of(result: Any, asset: str) -> dict[str, Any] | None:
    """The metadata values `asset`'s materialisation in this run recorded, if it ran."""
    events = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in events[-1].metadata.items()} if events else None


def training_summary(result: Any) -> dict[str, Any] | None:
    """The summary of the training run that the `moe_models` materialisation recorded, if it ran."""
    recorded = metadata_of(result, "moe_models")
    if not recorded or "summary" not in recorded:  # not run, or submitted to a Kubeflow Pipelines server
        return None
    return json.loads(Path(recorded["summary"]).read_text())


def ui() -> None:
    """Start the Dagster UI (webserver and daemon) on 127.0.0.1 with the lineage `aiprime run` recorded."""
    from aiprime.orchestration.runner import ui_command

    settings = Settings()
    versioning.find_repo_root(Path.cwd())
    processes.require_free_port(
        settings.host, settings.dagster_port, "the Dagster UI", "AIPRIME_DAGSTER_PORT"
    )
    argv, env = ui_command(settings)
    console.print(f"Dagster UI on http://{settings.host}:{settings.dagster_port} (Ctrl-C stops it)")
    run_supervised(argv, env={**os.environ, **env})  # SIGINT or SIGTERM ends dagster and all it started
