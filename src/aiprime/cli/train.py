"""`aiprime train`: run the mixture-of-experts pipeline here (kfp.local) or submit it to Kubeflow Pipelines."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiprime import versioning
from aiprime.moe.report import headline
from aiprime.provenance.openlineage import TRAINING_PIPELINE, Emitter, kfp_pipeline_run
from aiprime.services import stack
from aiprime.settings import Settings
from aiprime.training import launch
from aiprime.training.kubeflow import EXPERIMENT
from aiprime.training.launch import TrainOptions


def train(
    limit: int = typer.Option(
        0, min=0, help="At most N rows per (split, lexname) for a quick run; 0 uses all."
    ),
    host: str | None = typer.Option(None, help="Kubeflow Pipelines URL: submit the compiled pipeline there."),
    max_epochs: int = typer.Option(
        30, min=1, help="Epochs at most per model; early stopping may end sooner."
    ),
    lr: float = typer.Option(0.001, min=0.0, help="Peak AdamW learning rate (one-cycle schedule)."),
    seed: int = typer.Option(0, help="Base seed; each expert derives its own from it and its name."),
    threads: int = typer.Option(2, min=0, help="torch threads per step (0: torch's default)."),
    retrain: bool = typer.Option(
        False, "--retrain", help="Train every model, even those whose champion is current."
    ),
) -> None:
    """Train, evaluate and register the gate, the experts and the dense baseline (pipeline `moe-training`).

    Models whose champion was trained on the same data with the same settings are reused; a new expert in
    aiprime/moe/experts.py trains itself and the gate only. Champions move only when a challenger beats them.
    """
    settings, root = Settings(), versioning.find_repo_root(Path.cwd())
    options = TrainOptions(limit, max_epochs, lr, seed, threads, retrain)
    out = Console(file=sys.stdout)  # bound now: the local run sends sys.stdout to its log
    if host:
        run_id = launch.submit(settings, root, options, host)
        out.print(f"Submitted run {run_id} to {host} (experiment {EXPERIMENT}).")
        return
    with out.status("starting PostgreSQL and MLflow"):
        stack.up(settings)
    summary = run_with_progress(settings, root, options, out)
    print_summary(summary, settings, out)


def print_summary(summary: dict[str, Any], settings: Settings, out: Console) -> None:
    """The test scores, the registry decisions and where the MLflow run is."""
    out.print(metrics_table(summary["metrics"]))
    out.print(promotions_table(summary))
    out.print(
        f"MLflow run {summary['mlflow_run_id']} at {settings.mlflow_url} (experiment {EXPERIMENT}); "
        f"data version {summary['data_version']}."
    )


def run_with_progress(settings: Settings, root: Path, options: TrainOptions, out: Console) -> dict[str, Any]:
    """Run the compiled pipeline with kfp.local, one progress line per task; the pipeline's summary."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=out) as progress:
        running: dict[str, list[Any]] = {}

        def on_task(task: str, state: str) -> None:
            if state == "running":
                running.setdefault(task, []).append(progress.add_task(f"{task}: running", total=1))
            elif running.get(task):
                colour = "green" if state == "SUCCESS" else "red"
                progress.update(
                    running[task].pop(0), description=f"{task}: [{colour}]{state.lower()}[/]", completed=1
                )

        out.print(f"Running pipeline moe-training locally; task logs in {settings.log_dir}/train-*.log")
        with kfp_pipeline_run(Emitter(settings), TRAINING_PIPELINE, on_task) as on_task_emitting:
            summary, _ = launch.train_here(settings, root, options, on_task_emitting)
    return summary


def metrics_table(metrics: dict[str, float]) -> Table:
    """Test-split accuracy and macro-F1 of every model, then routing figures."""
    table = Table(title="Test split")
    for column, justify in (("model", "left"), ("accuracy", "right"), ("macro-F1", "right")):
        table.add_column(column, justify=justify)
    for name, accuracy, f1 in headline(metrics):
        table.add_row(name, f"{accuracy:.4f}", f"{f1:.4f}")
    cv, dropped = metrics.get("routing.utilisation_cv", math.nan), metrics.get("dropped_frac", math.nan)
    table.caption = f"expert utilisation CV {cv:.3f}; dropped token assignments {dropped:.4f}"
    return table


def promotions_table(summary: dict[str, Any]) -> Table:
    """The champion gate's decision for each model this run trained, and what it reused or skipped."""
    table = Table(title="Registry (MLflow)")
    for column in ("model", "decision", "reason"):
        table.add_column(column, overflow="fold")
    for p in summary["promotions"]:
        decision = "[green]champion[/]" if p["promoted"] else "[yellow]challenger only[/]"
        table.add_row(p["name"], decision, p["reason"])
    for role in summary["reused"]:
        table.add_row(f"aiprime-{role}", "reused", "champion trained on this data with these settings")
    for name, why in summary["skipped"].items():
        table.add_row(f"expert {name}", "[red]skipped[/]", why)
    return table
