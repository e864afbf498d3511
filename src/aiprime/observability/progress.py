"""Progress of long stages, reported by the library and rendered by whoever runs it.

Library code (ingest, training, index builds) opens a stage and advances it; it never renders:

    with progress.stage("embedding documents", total=len(texts)) as embedding:
        for batch in batches:
            ...
            embedding.advance(len(batch))

An edge (the CLI) installs a `Reporter` for the duration of a command with `reporting_to(reporter)`;
without one, stages cost a few attribute updates and report nowhere.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, Self


@dataclass
class Stage:
    """One named unit of work: items done of `total` (None when unknown), timed from its start."""

    name: str
    total: int | None = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def advance(self, n: int = 1) -> None:
        """Count `n` more items done."""
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        """Set the items done (and the total, when it became known) absolutely."""
        self.done, self.total = done, self.total if total is None else total
        _reporter.advanced(self)

    def close(self) -> None:
        """Mark the stage finished (once); its elapsed time is then fixed."""
        if self.finished is None:
            self.finished = time.monotonic()
            _reporter.finished(self)

    @property
    def elapsed(self) -> float:
        """Seconds from the start to the end (or to now while it runs)."""
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float | None:
        """Items per second so far; None before the first item."""
        return self.done / self.elapsed if self.done and self.elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None while the rate or the total is unknown."""
        rate = self.rate
        return max(self.total - self.done, 0) / rate if rate and self.total is not None else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reporter(Protocol):
    """Where stages report: the CLI renders them (a live display on a terminal, plain lines elsewhere)."""

    def started(self, stage: Stage) -> None: ...
    def advanced(self, stage: Stage) -> None: ...
    def finished(self, stage: Stage) -> None: ...


class Silent:
    """The reporter while no edge installed one: stages report nowhere."""

    def started(self, stage: Stage) -> None:
        pass

    def advanced(self, stage: Stage) -> None:
        pass

    def finished(self, stage: Stage) -> None:
        pass


_reporter: Reporter = Silent()


def stage(name: str, total: int | None = None) -> Stage:
    """Start a stage named `name` of `total` items (None: unknown) and report it; close it when done."""
    started = Stage(name, total)
    _reporter.started(started)
    return started


@contextlib.contextmanager
def reporting_to(reporter: Reporter) -> Iterator[Reporter]:
    """Within the block, every stage reports to `reporter` (then to whichever reported before)."""
    global _reporter
    saved, _reporter = _reporter, reporter
    try:
        yield reporter
    finally:
        _reporter = saved
