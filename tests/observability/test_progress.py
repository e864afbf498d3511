"""Stages report to the reporter an edge installed, and to nothing without one."""

from __future__ import annotations

import io

from _helpers.progress import Recording

from aiprime.observability import progress


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


def relayed(*events: tuple[str, int, int | None], name: str = "embedding 10 texts") -> list[str]:
    """The lines a LineRelay prints for a stage of `name` that goes through `events` (event, done, total)."""
    out = io.StringIO()
    relay = progress.LineRelay(out)
    for event, done, total in events:
        getattr(relay, event)(progress.Stage(name, total, done))
    return out.getvalue().splitlines()


def test_a_relayed_stage_is_mirrored_with_its_items_in_the_reading_process():
    lines = relayed(("started", 0, 10), ("advanced", 4, 10), ("advanced", 10, 10), ("finished", 10, 10))
    recording, mirror = Recording(), progress.Mirror()
    with progress.reporting_to(recording):
        assert [mirror.line("    " + line) for line in lines] == [True] * 4  # kfp.local indents task output
    assert recording.events == [
        ("started", "embedding 10 texts", 0, 10),
        ("advanced", "embedding 10 texts", 4, 10),
        ("advanced", "embedding 10 texts", 10, 10),
        ("finished", "embedding 10 texts", 10, 10),
    ]
    assert mirror.open == {}


def test_other_lines_and_broken_relays_are_left_as_output_and_open_stages_close_at_the_end():
    recording, mirror = Recording(), progress.Mirror()
    with progress.reporting_to(recording):
        assert not mirror.line("Batches: 39%|███▉      | 25/64")
        assert not mirror.line(progress.RELAY + "{not json")
        assert not mirror.line(progress.RELAY + '{"event": "started"}')  # no name
        assert not mirror.line(progress.RELAY + '{"event": "paused", "name": "a", "done": 0, "total": 1}')
        assert not mirror.line(progress.RELAY + '{"event": "started", "name": "a", "done": 0, "total": "x"}')
        (started,) = relayed(("started", 0, 5), name="a task that died")
        assert mirror.line(started)
        mirror.close()
    assert [e[0] for e in recording.events] == ["started", "finished"]
    assert mirror.open == {}


def test_a_failed_stage_is_relayed_and_mirrored_as_failed():
    out, recording, mirror = io.StringIO(), Recording(), progress.Mirror()
    relay = progress.LineRelay(out)
    with progress.reporting_to(relay):
        try:
            with progress.stage("prepare-data", total=3):
                raise OSError("disk full")
        except OSError:
            pass
    with progress.reporting_to(recording):
        assert all(mirror.line(line) for line in out.getvalue().splitlines())
    assert [e[0] for e in recording.events] == ["started", "finished"]
    assert recording.closed[-1].failed and recording.closed[-1].name == "prepare-data"
