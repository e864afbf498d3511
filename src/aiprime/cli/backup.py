"""`aiprime backup create|restore|list`: the databases, MLflow artifacts and DVC remote in one backup."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aiprime import backup
from aiprime.cli.render import console, services_table
from aiprime.settings import Settings

app = typer.Typer(
    no_args_is_help=True, help="Back up and restore the databases, MLflow artifacts and DVC remote."
)


@app.command()
def create(
    out: Annotated[
        Path | None, typer.Option(help="Folder to write the backup into (default: AIPRIME_HOME/backups).")
    ] = None,
    archive: Annotated[
        bool, typer.Option("--archive", help="Write one .tar.gz file instead of a folder.")
    ] = False,
) -> None:
    """Write a timestamped backup of every AI Prime database, the MLflow artifacts and the DVC remote."""
    with console.status("backing up"):
        path = backup.create(Settings(), out=out, archive=archive)
    console.print(backups_table([backup.describe(path)]))


@app.command()
def restore(
    path: Annotated[
        Path, typer.Argument(help="A backup folder or .tar.gz (`aiprime backup list` shows them).")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Replace the existing databases and folders.")
    ] = False,
) -> None:
    """Check the backup's hashes, stop MLflow, replace the databases and folders, restart the services."""
    with console.status(f"restoring {path}"):
        statuses = backup.restore(Settings(), path, yes=yes)
    console.print(f"restored {path}", highlight=False, soft_wrap=True)
    console.print(services_table(statuses))


@app.command("list")
def list_(
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Folder to look in (default: AIPRIME_HOME/backups).")
    ] = None,
) -> None:
    """Show the backups in a folder, oldest first (hashes are checked by restore, not here)."""
    console.print(backups_table(backup.list_backups(folder or backup.default_dir(Settings()))))


def backups_table(infos: Iterable[backup.BackupInfo]) -> Table:
    """Backups with their time, size and parts."""
    table = Table(title="Backups")
    for column, justify in (("created", "left"), ("size", "right"), ("parts", "left"), ("path", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for info in infos:
        parts = f"[red]{info.problem}[/]" if info.problem else ", ".join(info.parts)
        table.add_row(info.created_at, f"{info.bytes / 1e6:,.1f} MB", parts, str(info.path))
    return table
