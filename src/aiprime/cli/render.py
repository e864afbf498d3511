"""Rich rendering shared by the CLI commands."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Self

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiprime.observability.progress import Stage
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


def duration(seconds: float) -> str:
    """`seconds` as a person reads it: 4.2 s, 3 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def stage_detail(stage: Stage, elapsed: bool = True) -> str:
    """Items done of the total, the rate and the time left, as far as they are known, and the time so far."""
    parts = []
    if stage.total:
        parts.append(f"{stage.done:,}/{stage.total:,}")
    elif stage.done:
        parts.append(f"{stage.done:,}")
    if stage.rate is not None:
        parts.append(f"{stage.rate:,.1f}/s")
    if stage.eta is not None:
        parts.append(f"ETA {duration(stage.eta)}")
    return " · ".join([*parts, *([duration(stage.elapsed)] if elapsed else [])])


class StageDisplay:
    """Renders progress stages: a live display on a terminal, a plain line per `every` seconds elsewhere.

    It remembers every finished stage, for the summary's time per stage (`stage_times_table`).
    """

    def __init__(self, out: Console = console, every: float = 30.0) -> None:
        self.out, self.every = out, every
        self.done_stages: list[Stage] = []
        self.live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=out,
            disable=not out.is_terminal,
        )
        self.tasks: dict[int, object] = {}
        self.last_line: dict[int, float] = {}

    def __enter__(self) -> Self:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def started(self, stage: Stage) -> None:
        """Show the new stage (a plain line when not on a terminal)."""
        self.tasks[id(stage)] = self.live.add_task(stage.name, total=stage.total, detail="")
        self.last_line[id(stage)] = time.monotonic()
        if self.live.disable:
            self.out.print(f"{escape(stage.name)}: started", highlight=False)

    def advanced(self, stage: Stage) -> None:
        """Update the stage's bar (a plain line at most every `every` seconds when not on a terminal)."""
        task = self.tasks.get(id(stage))
        if task is not None:
            detail = stage_detail(stage, elapsed=False)  # the elapsed column shows it
            self.live.update(task, completed=stage.done, total=stage.total, detail=detail)
        if self.live.disable and time.monotonic() - self.last_line.get(id(stage), 0) >= self.every:
            self.last_line[id(stage)] = time.monotonic()
            self.out.print(f"{escape(stage.name)}: {stage_detail(stage)}", highlight=False)

    def finished(self, stage: Stage) -> None:
        """Replace the stage's bar with one line saying how long it took."""
        task = self.tasks.pop(id(stage), None)
        if task is not None:
            self.live.remove_task(task)
        self.last_line.pop(id(stage), None)
        self.done_stages.append(stage)
        count = f" ({stage.done:,} items)" if stage.done else ""
        mark = "[red]✗[/] {} failed after" if stage.failed else "[green]✓[/] {} in"
        self.out.print(f"{mark.format(escape(stage.name))} {duration(stage.elapsed)}{count}", highlight=False)


def stage_times_table(stages: Iterable[Stage]) -> Table:
    """The time each finished stage took, in the order they started (a step before the stages within it)."""
    table = Table(title="Time per stage")
    table.add_column("stage", overflow="fold")
    table.add_column("items", justify="right")
    table.add_column("took", justify="right")
    for stage in sorted(stages, key=lambda s: s.started):
        table.add_row(escape(stage.name), f"{stage.done:,}" if stage.done else "", duration(stage.elapsed))
    return table
