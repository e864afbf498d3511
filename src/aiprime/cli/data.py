"""`aiprime data ingest|status|stage` and `aiprime run`: DVC-versioned datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from aiprime import versioning
from aiprime.cli.render import console, datasets_table
from aiprime.data import stages
from aiprime.services import stack
from aiprime.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Ingest and version the data sets.")


def _ingest_with_progress(settings: Settings) -> list[versioning.DatasetVersion]:
    root = versioning.find_repo_root(Path.cwd())
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    engine = stack.ready_app_db(settings)  # the versions are recorded in PostgreSQL
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("data", total=None)

            def on_stage(stage: str) -> None:
                progress.update(task, description=f"dvc: {stage}")

            return versioning.ingest(root, engine, on_stage)
    finally:
        engine.dispose()


@app.command()
def ingest() -> None:
    """Reproduce the DVC pipeline (raw -> processed -> splits), push it, and record the versions."""
    console.print(datasets_table(_ingest_with_progress(Settings())))


@app.command()
def status() -> None:
    """Show the dataset versions recorded in data/dvc.lock, with row counts."""
    console.print(datasets_table(versioning.read_versions(versioning.find_repo_root(Path.cwd()))))


@app.command()
def stage(
    name: str = typer.Argument(..., help="raw, processed or splits (called by data/dvc.yaml)"),
    out: Path = typer.Option(..., help="Output folder."),
    limit: int = typer.Option(0, min=0, help="raw: keep the first N entries of each source (0 = all)."),
    raw: Path = typer.Option(Path("raw"), help="processed: the raw folder."),
    processed: Path = typer.Option(Path("processed"), help="splits: the processed folder."),
) -> None:
    """Run one stage of the data pipeline (DVC calls this; use `aiprime data ingest` yourself)."""
    if name == "raw":
        stages.stage_raw(Settings(), out, limit or None)
    elif name == "processed":
        stages.stage_processed(raw, out)
    elif name == "splits":
        stages.stage_splits(processed, out)
    else:
        raise typer.BadParameter(f"unknown stage {name!r}; use one of {', '.join(versioning.STAGES)}")
