"""JSON logs of real processes (a router and a KServe server), read back by `aiprime logs` across services."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from _helpers import free_port
from _helpers.graphs import write_graph
from _helpers.processes import ModelServerProcess, aiprime_server

from aiprime.errors import InvalidInput
from aiprime.observability import logs

FIRST = {"predictions": [{"expert": "living", "probability": 0.6, "scores": {"a": 1.0, "b": 0.0}}]}
SECOND = {"predictions": [{"expert": "actions", "probability": 0.2, "scores": {"a": 0.0, "b": 1.0}}]}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def aiprime(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`aiprime ARGS` as a user runs it."""
    command = [str(Path(sys.executable).with_name("aiprime")), *args]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)


def graph_file(folder: Path, model_url: str) -> Path:
    """A Sequence of one step: the combiner."""
    return write_graph(folder, "logged", {"routerType": "Sequence", "steps": [{"serviceUrl": model_url}]})


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A router and the combiner, each in its own process, after two requests: one answered (with a trace
    context), one refused. The router forwards no headers (KServe's default), so the combiner sees the
    first request's trace but neither request id."""
    folder = tmp_path_factory.mktemp("logs")
    env = {**os.environ, "AIPRIME_HOME": str(folder / "home")}
    before = datetime.now(UTC)
    latency_lines_off = ["--enable_latency_logging", "false"]  # as `aiprime serve` starts its servers
    with ModelServerProcess("combiner", latency_lines_off, folder / "combiner.out", env=env) as combiner:
        router_args = ["router", "--graph", str(graph_file(folder, combiner.predict_url))]
        with aiprime_server(router_args, free_port(), folder / "router.out", env) as router_url:
            answered = {"x-request-id": "req-answered", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
            ok = httpx.post(router_url, json={"first": FIRST, "second": SECOND}, headers=answered, timeout=60)
            bad = httpx.post(router_url, json={"instances": ["a"]}, headers={"x-request-id": "req-refused"})
    assert (ok.status_code, bad.status_code) == (200, 400), (ok.text, bad.text)
    return {"env": env, "dir": folder / "home" / "logs", "before": before}


def test_each_process_writes_json_lines_with_the_request_and_trace_ids(logged) -> None:
    assert logs.services(logged["dir"]) == ["combiner", "router"]
    lines = logs.read_logs(logged["dir"], request_id="req-answered")
    assert [(line["service"], line["level"]) for line in lines] == [("combiner", "info"), ("router", "info")]
    assert all(line["trace_id"] == TRACE_ID for line in lines)
    assert (lines[0]["model"], lines[0]["outcome"], lines[1]["request_id"]) == (
        "combiner",
        "ok",
        "req-answered",
    )
    (refused,) = logs.read_logs(logged["dir"], request_id="req-refused")
    assert (refused["service"], refused["level"], refused["status"]) == ("router", "warning", 400)
    combiner = logs.read_logs(logged["dir"], service=["combiner"])
    assert [line["outcome"] for line in combiner if "outcome" in line] == ["ok", "invalid_input"]


def test_lines_of_every_service_are_merged_by_time(logged) -> None:
    lines = logs.read_logs(logged["dir"])
    assert [line["ts"] for line in lines] == sorted(line["ts"] for line in lines)
    assert {line["service"] for line in lines} == {"combiner", "router"}


def test_since_leaves_out_older_lines(logged) -> None:
    assert logs.read_logs(logged["dir"], since=logged["before"] - timedelta(seconds=1))
    assert logs.read_logs(logged["dir"], since=datetime.now(UTC) + timedelta(seconds=1)) == []


def test_the_command_filters_by_service_and_request(logged) -> None:
    shown = aiprime("logs", "--service", "router", "--request", "req-refused", "--since", "1h", "--json",
                    env=logged["env"])  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(line["service"], line["request_id"], line["status"]) for line in lines] == [
        ("router", "req-refused", 400)
    ]
    readable = aiprime("logs", "--request", "req-answered", env=logged["env"])
    shown = readable.stdout.splitlines()
    assert [line.split()[1:3] for line in shown] == [["combiner", "info"], ["router", "info"]]
    assert all(TRACE_ID in line for line in shown) and "request_id=req-answered" in shown[1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "ten minutes"], "write a number and a unit"),
        (["--service", "nope"], "services with logs"),
    ],
)
def test_bad_options_are_one_line_with_the_fix(logged, args: list[str], says: str) -> None:
    shown = aiprime("logs", *args, env=logged["env"])
    assert shown.returncode == 1 and says in shown.stderr and "Traceback" not in shown.stderr


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """Put back the root logger (pytest's capture) after a test configures this process's logging."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers = saved[0]
    root.setLevel(saved[1])


def test_a_line_logged_in_a_bound_request_carries_its_id(tmp_path: Path, logging_restored) -> None:
    path = logs.configure_json_logging("unit", tmp_path, stream=io.StringIO(), info_loggers=("t.unit",))
    with logs.bound_request_id("r-1"):
        logging.getLogger("t.unit").info("hello %s", "there", extra={"rows": 3})
    logging.getLogger("t.unit").info("outside")
    first, second = [json.loads(raw) for raw in path.read_text().splitlines()]
    assert (first["service"], first["request_id"], first["message"], first["rows"]) == (
        "unit",
        "r-1",
        "hello there",
        3,
    )
    assert "request_id" not in second


def test_a_console_command_logs_to_its_file_only(tmp_path: Path, logging_restored) -> None:
    console = io.StringIO()
    path = logs.configure_json_logging(
        "serve", tmp_path, stream=console, console=False, info_loggers=("t.cli",)
    )
    logging.getLogger("t.cli").warning("a server exited")
    assert console.getvalue() == "" and json.loads(path.read_text())["message"] == "a server exited"


def test_follow_yields_lines_written_later_and_only_complete_ones(tmp_path: Path) -> None:
    (tmp_path / "router.jsonl").write_text(
        json.dumps({"ts": "2026-01-01T00:00:00.000+00:00", "message": "old"}) + "\n"
    )
    followed = logs.follow_logs(tmp_path, request_id="r-9", poll_s=0.01)
    with (tmp_path / "router.jsonl").open("a") as f:
        f.write(
            json.dumps({"ts": "2026-01-01T00:00:01.000+00:00", "message": "mine", "request_id": "r-9"}) + "\n"
        )
        f.write(
            json.dumps({"ts": "2026-01-01T00:00:02.000+00:00", "message": "other", "request_id": "r-8"})
            + "\n"
        )
        f.write('{"ts": "2026-01-01T00:00:03.000+00:00", "message": "half')
        f.flush()
        assert next(followed)["message"] == "mine"
        f.write(' written", "request_id": "r-9"}\n')
        f.flush()
        (tmp_path / "gate.jsonl").write_text(
            json.dumps({"ts": "2026-01-01T00:00:04.000+00:00", "request_id": "r-9"}) + "\n"
        )
        assert next(followed)["message"] == "half written"
        assert next(followed)["ts"].endswith("04.000+00:00")  # a service whose file appeared after the start


def test_a_file_rolls_over_and_both_halves_are_read(tmp_path: Path, logging_restored) -> None:
    path = logs.configure_json_logging(
        "busy", tmp_path, console=False, info_loggers=("t.busy",), max_file_bytes=2000
    )
    followed = logs.follow_logs(tmp_path, poll_s=0.01)
    for i in range(40):
        logging.getLogger("t.busy").info("line %d", i)
    on_disk = [path, path.with_name("busy.jsonl.1")]
    assert all(p.exists() and p.stat().st_size <= 2000 for p in on_disk)
    kept = [int(line["message"].split()[1]) for line in logs.read_logs(tmp_path)]
    assert kept == list(range(40 - len(kept), 40)) and len(kept) > 5  # the newest lines, in order
    current = json.loads(path.read_text().splitlines()[0])["message"]
    assert next(followed)["message"] == current  # a follower reads on in the new file


def test_parse_since_reads_each_unit() -> None:
    assert [logs.parse_since(t) for t in ("30s", "10m", "2h", "1d")] == [
        timedelta(seconds=30), timedelta(minutes=10), timedelta(hours=2), timedelta(days=1)
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="--since"):
        logs.parse_since("10")
