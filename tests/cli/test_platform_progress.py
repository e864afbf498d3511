"""What `aiprime run` shows while it works: stages with done/total, rate and ETA; then the time per stage."""

from __future__ import annotations

import io

from rich.console import Console

from aiprime.cli.render import StageDisplay, duration, stage_detail, stage_times_table
from aiprime.observability import progress


def console_on(buffer: io.StringIO, terminal: bool) -> Console:
    return Console(file=buffer, force_terminal=terminal, width=200, color_system=None)


def test_off_a_terminal_each_stage_prints_plain_lines_with_counts_rate_and_eta():
    buffer = io.StringIO()
    display = StageDisplay(console_on(buffer, terminal=False), every=0)  # a line on every update
    reporting = progress.reporting_to(display)
    with display, reporting, progress.stage("embedding changed documents", total=1000) as embedding:
        embedding.update(250)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "embedding changed documents: started"
    assert lines[1].startswith("embedding changed documents: 250/1,000 · ") and "/s · ETA " in lines[1]
    assert lines[2].startswith("✓ embedding changed documents in ") and lines[2].endswith("(250 items)")
    assert [s.name for s in display.done_stages] == ["embedding changed documents"]


def test_off_a_terminal_progress_lines_come_at_most_every_period():
    buffer = io.StringIO()
    display = StageDisplay(console_on(buffer, terminal=False), every=3600)
    with display, progress.reporting_to(display), progress.stage("training", total=10) as training:
        for _ in range(10):
            training.advance()
    assert [line.split(" ")[0] for line in buffer.getvalue().splitlines()] == ["training:", "✓"]


def test_on_a_terminal_the_live_display_ends_with_one_line_per_finished_stage():
    buffer = io.StringIO()
    display = StageDisplay(console_on(buffer, terminal=True))
    with display, progress.reporting_to(display), progress.stage("every Dagster asset"):
        progress.stage("moe_models").close()
    shown = buffer.getvalue()
    assert "✓ moe_models in " in shown and "✓ every Dagster asset in " in shown
    assert not display.tasks  # no bar left behind


def test_the_time_per_stage_table_lists_stages_in_the_order_they_started():
    outer = progress.Stage("every Dagster asset", started=0.0, finished=125.0)
    inner = progress.Stage("document_embeddings", done=1200, started=1.0, finished=61.0)
    buffer = io.StringIO()
    console_on(buffer, terminal=False).print(stage_times_table([inner, outer]))
    table = buffer.getvalue()
    assert table.index("every Dagster asset") < table.index("document_embeddings")
    assert "2 min 05 s" in table and "1,200" in table and "1 min 00 s" in table


def test_durations_and_details_read_as_a_person_would_say_them():
    assert [duration(s) for s in (4.24, 185, 3720)] == ["4.2 s", "3 min 05 s", "1 h 02 min"]
    stage = progress.Stage("x", total=100, done=50, started=0.0, finished=10.0)
    assert stage_detail(stage) == "50/100 · 5.0/s · ETA 10.0 s · 10.0 s"
    assert stage_detail(progress.Stage("y", started=0.0, finished=2.0)) == "2.0 s"


def test_a_stage_that_ends_by_an_exception_is_shown_failed_not_done():
    buffer = io.StringIO()
    display = StageDisplay(console_on(buffer, terminal=False), every=3600)
    with display, progress.reporting_to(display):
        try:
            with progress.stage("serving early: the first answer through the graph"):
                raise RuntimeError("the generator died")
        except RuntimeError:
            pass
    (line,) = buffer.getvalue().splitlines()[1:]
    assert line.startswith("✗ serving early: the first answer through the graph failed after ")
