"""Rich rendering shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from aiprime.services.stack import ServiceStatus
from aiprime.versioning import DatasetVersion

console = Console()
err_console = Console(stderr=True)


def services_table(statuses: Iterable[ServiceStatus]) -> Table:
    """Services with their state and URL."""
    table = Table(title="Services")
    for column in ("service", "state", "url", "detail"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        state = "[green]running[/]" if s.running else "[red]stopped[/]"
        table.add_row(s.name, state, s.url, s.detail)
    return table


def datasets_table(versions: Iterable[DatasetVersion]) -> Table:
    """Datasets with row counts and DVC hashes."""
    table = Table(title="Datasets (DVC-versioned)")
    for column, justify in (
        ("dataset", "left"),
        ("stage", "left"),
        ("rows", "right"),
        ("dvc md5", "left"),
        ("path", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold", no_wrap=column in ("rows", "stage"))
    for v in versions:
        table.add_row(v.name, v.stage, f"{v.rows:,}", v.dvc_md5, v.path)
    return table
