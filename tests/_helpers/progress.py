"""A progress reporter for tests: it keeps every stage event it is told."""

from __future__ import annotations

from aiprime.observability import progress


class Recording:
    """A reporter that keeps what it was told, as (event, name, done, total)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, int | None]] = []
        self.closed: list[progress.Stage] = []  # the stages it was told finished

    def started(self, stage: progress.Stage) -> None:
        self.events.append(("started", stage.name, stage.done, stage.total))

    def advanced(self, stage: progress.Stage) -> None:
        self.events.append(("advanced", stage.name, stage.done, stage.total))

    def finished(self, stage: progress.Stage) -> None:
        self.events.append(("finished", stage.name, stage.done, stage.total))
        self.closed.append(stage)
