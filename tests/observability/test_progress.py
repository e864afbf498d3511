"""Stages report to the reporter an edge installed, and to nothing without one."""

from __future__ import annotations

from aiprime.observability import progress


class Recording:
    """A reporter that keeps what it was told, as (event, name, done, total)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, int | None]] = []

    def started(self, stage: progress.Stage) -> None:
        self.events.append(("started", stage.name, stage.done, stage.total))

    def advanced(self, stage: progress.Stage) -> None:
        self.events.append(("advanced", stage.name, stage.done, stage.total))

    def finished(self, stage: progress.Stage) -> None:
        self.events.append(("finished", stage.name, stage.done, stage.total))


def test_stage_reports_start_advances_and_end_once():
    recording = Recording()
    with progress.reporting_to(recording), progress.stage("embedding", total=10) as embedding:
        embedding.advance(4)
        embedding.update(9, total=12)
        embedding.close()  # closing again on exit reports nothing more
    assert recording.events == [
        ("started", "embedding", 0, 10),
        ("advanced", "embedding", 4, 10),
        ("advanced", "embedding", 9, 12),
        ("finished", "embedding", 9, 12),
    ]
    assert embedding.finished is not None and embedding.elapsed >= 0


def test_rate_and_eta_follow_the_items_done():
    embedding = progress.Stage("embedding", total=100, started=0.0, finished=10.0)
    assert embedding.rate is None and embedding.eta is None  # nothing done yet
    embedding.done = 25
    assert embedding.rate == 2.5
    assert embedding.eta == 30.0
    assert progress.Stage("unknown total", done=5, started=0.0, finished=1.0).eta is None


def test_without_a_reporter_stages_report_nowhere_and_the_previous_one_comes_back():
    outer, inner = Recording(), Recording()
    with progress.reporting_to(outer):
        with progress.reporting_to(inner):
            progress.stage("inner").close()
        progress.stage("outer").close()
    progress.stage("unreported", total=1).advance()
    assert [e[1] for e in inner.events] == ["inner", "inner"]
    assert [e[1] for e in outer.events] == ["outer", "outer"]
