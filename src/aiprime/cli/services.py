"""`aiprime services up|down|status`: the embedded PostgreSQL and the MLflow server."""

from __future__ import annotations

import typer

from aiprime.cli.render import console, services_table
from aiprime.services import stack
from aiprime.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Start, stop and inspect the local services.")


@app.command()
def up() -> None:
    """Start PostgreSQL (embedded unless AIPRIME_DATABASE_URL is set), migrate it, and start MLflow."""
    with console.status("starting PostgreSQL and MLflow"):
        statuses = stack.up(Settings())
    console.print(services_table(statuses))


@app.command()
def down() -> None:
    """Stop MLflow and the embedded PostgreSQL (their data stays under AIPRIME_HOME)."""
    stopped = stack.down(Settings())
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status() -> None:
    """Show what runs now, without starting anything."""
    console.print(services_table(stack.status(Settings())))
