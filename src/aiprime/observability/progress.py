"""Progress of long stages, reported by the library and rendered by whoever runs it.

Library code (ingest, training, index builds) opens a stage and advances it; it never renders:

    with progress.stage("embedding documents", total=len(texts)) as embedding:
        for batch in batches:
            ...
            embedding.advance(len(batch))

An edge (the CLI) installs a `Reporter` for the duration of a command with `reporting_to(reporter)`;
without one, stages cost a few attribute updates and report nowhere.

A process whose output another process reads (a KFP task under kfp.local) reports through `LineRelay`: one
`RELAY` line per event on stdout. The reading process feeds its lines to a `Mirror`, which opens, advances and
closes the same stages on its own reporter, so the task's embedding shows with its items, rate and ETA.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, Self, TextIO

RELAY = "aiprime-progress "  # starts the line a relaying process prints per stage event (`LineRelay`)


@dataclass
class Stage:
    """One named unit of work: items done of `total` (None when unknown), timed from its start."""

    name: str
    total: int | None = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    failed: bool = False  # it ended by an exception: shown as failed, not done

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

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.failed = exc_type is not None
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


class LineRelay:
    """A reporter that prints each stage event as one line, `RELAY` then JSON, for a `Mirror` to read."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out  # None: sys.stdout at the time of the event

    def started(self, stage: Stage) -> None:
        self._print("started", stage)

    def advanced(self, stage: Stage) -> None:
        self._print("advanced", stage)

    def finished(self, stage: Stage) -> None:
        self._print("finished", stage)

    def _print(self, event: str, stage: Stage) -> None:
        fields = {"event": event, "name": stage.name, "done": stage.done, "total": stage.total}
        fields |= {"failed": True} if stage.failed else {}
        print(RELAY + json.dumps(fields), file=self.out or sys.stdout, flush=True)


class Mirror:
    """Stages opened, advanced and closed here as a relaying process's `RELAY` lines say (thread-safe)."""

    def __init__(self) -> None:
        self.open: dict[str, Stage] = {}
        self.lock = threading.Lock()

    def line(self, text: str) -> bool:
        """Mirror `text` when it holds a relayed event (anywhere in it: a runner may indent it); whether it did."""
        start = text.find(RELAY)
        if start < 0:
            return False
        try:
            event = json.loads(text[start + len(RELAY) :])
            kind, name, done = event["event"], str(event["name"]), int(event["done"])
            total = None if event["total"] is None else int(event["total"])
            failed = bool(event.get("failed", False))
        except (ValueError, KeyError, TypeError, AttributeError):
            return False  # a line that only looks like one: left as output
        if kind not in ("started", "advanced", "finished"):
            return False
        with self.lock:
            self._apply(kind, name, done, total, failed)
        return True

    def _apply(self, kind: str, name: str, done: int, total: int | None, failed: bool = False) -> None:
        if kind == "started" and name in self.open:
            self.open.pop(name).close()  # its end was not relayed
        if name not in self.open:
            self.open[name] = stage(name, total)
        mirrored = self.open[name]
        if (done, total) != (mirrored.done, mirrored.total):
            mirrored.update(done, total)
        if kind == "finished":
            mirrored.failed = failed
            self.open.pop(name).close()

    def close(self) -> None:
        """Close every stage still open (its process ended without saying so)."""
        with self.lock:
            for opened in self.open.values():
                opened.close()
            self.open.clear()
