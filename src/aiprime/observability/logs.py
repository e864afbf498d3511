"""JSON-lines logs of every AI Prime process, and reading them back across processes.

A process calls `configure_json_logging(service, log_dir)` once when it starts: every record then goes, as
one JSON object per line, to stderr and to `<log_dir>/<service>.jsonl` (`<AIPRIME_HOME>/logs` for the
servers). A line carries the ids of the span current when it was logged (`trace_id`, `span_id`) and the
request id bound by `bound_request_id` (the `X-Request-Id` a request came with), so one request can be
followed through every process it crossed: `read_logs` merges the services' files by time and filters them
by service, request id (with the traces it names) and age: what `aiprime logs` shows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

from opentelemetry import trace

from aiprime.errors import InvalidInput

SUFFIX = ".jsonl"
# A file rolls over to `<service>.jsonl.1` at this size, so that a long-running server keeps at most twice
# this on disk (a pod's /tmp is a small emptyDir; on a cluster the lines that matter are shipped from stderr).
MAX_FILE_BYTES = 32 * 1024 * 1024
REQUEST_ID_HEADER = "x-request-id"
# Loggers that libraries give their own handlers (KServe, uvicorn): they get ours instead, at INFO. Every
# other library logs through the root logger, at WARNING.
INFO_LOGGERS = ("aiprime", "kserve", "kserve.trace", "uvicorn", "uvicorn.error")
_SINCE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_request_id: ContextVar[str | None] = ContextVar("aiprime_request_id", default=None)


@contextlib.contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Within the block (and the tasks and threads it starts), log lines carry `request_id`."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def current_request_id() -> str | None:
    """The request id bound by `bound_request_id` around the running code, or None."""
    return _request_id.get()


def request_id_of(headers: Mapping[str, str] | None) -> str | None:
    """The `X-Request-Id` among `headers` (any case), or None."""
    for name, value in (headers or {}).items():
        if name.lower() == REQUEST_ID_HEADER:
            return value[:128]
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, the ids, and every `extra` field."""

    _STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "asctime",
        "color_message",
    }

    def __init__(self, service: str | None = None) -> None:
        """Name `service` in every line (None leaves it out)."""
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            document["service"] = self.service
        document |= _current_ids()
        document |= {k: v for k, v in record.__dict__.items() if k not in self._STANDARD}
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def _current_ids() -> dict[str, str]:
    ids = {}
    if (request_id := _request_id.get()) is not None:
        ids["request_id"] = request_id
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        ids["trace_id"], ids["span_id"] = format(span.trace_id, "032x"), format(span.span_id, "016x")
    return ids


def log_file(log_dir: Path, service: str) -> Path:
    """Where `service` writes its JSON lines under `log_dir`."""
    return Path(log_dir) / f"{service}{SUFFIX}"


def configure_json_logging(
    service: str,
    log_dir: Path | None = None,
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
    console: bool = True,
    info_loggers: Iterable[str] = INFO_LOGGERS,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> Path | None:
    """Send the process's logs as JSON lines to `stream` (stderr) and to `service`'s file in `log_dir`.

    A command that talks to a person on its console (`aiprime serve`) passes `console=False`: its lines go to
    the file only. Idempotent: a second call replaces the handlers of the first. Returns the file, or None
    without `log_dir`.
    """
    formatter = JsonFormatter(service)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)] if console else []
    path = None
    if log_dir is not None:
        path = log_file(log_dir, service)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(RotatingFileHandler(path, maxBytes=max_file_bytes, backupCount=1, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(logging.WARNING)
    for name in info_loggers:  # their own handlers, so KServe does not install its text handlers
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = list(handlers), False
        logger.setLevel(level)
    return path


def parse_since(text: str) -> timedelta:
    """`10m`, `2h`, `30s`, `1d` as a duration.

    Raises:
        InvalidInput: the text is not a number and one of s, m, h, d.
    """
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise InvalidInput(
            f"--since {text!r} is not a duration; write a number and a unit: 30s, 10m, 2h, 1d."
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def services(log_dir: Path) -> list[str]:
    """The services that wrote JSON lines to `log_dir`."""
    return sorted(p.name.removesuffix(SUFFIX) for p in Path(log_dir).glob(f"*{SUFFIX}"))


def read_logs(
    log_dir: Path,
    service: Iterable[str] | None = None,
    request_id: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The JSON log lines of `log_dir`'s services, merged by time, oldest first.

    A request's lines are those carrying its request id, and those of the traces they name: a model server
    behind the router sees the request's trace context even when the router does not forward its
    `X-Request-Id` (KServe's router forwards only the headers `PROPAGATE_HEADERS` names).

    Args:
        log_dir: the folder of `<service>.jsonl` files (`<AIPRIME_HOME>/logs`).
        service: only these services; None reads every one.
        request_id: only lines of this request.
        since: only lines logged at or after this (aware) time.

    Raises:
        InvalidInput: a named service has no log file in `log_dir` (naming those that do).
    """
    cutoff = since.astimezone(UTC).isoformat(timespec="milliseconds") if since else ""
    paths = [
        older for path in _files(log_dir, service) for older in (_rolled_over(path), path) if older.exists()
    ]
    lines = [line for path in paths for line in _read(path) if line["ts"] >= cutoff]
    return _of_request(lines, request_id, set())


def follow_logs(
    log_dir: Path, service: Iterable[str] | None = None, request_id: str | None = None, poll_s: float = 0.5
) -> Iterator[dict[str, Any]]:
    """The lines written from this call on, as they come, until the caller stops iterating (`aiprime logs
    --follow`). Filters and errors are `read_logs`'; when `service` is None, a service that writes its first
    line later is read too."""
    offsets = {path: path.stat().st_size for path in _files(log_dir, service)}  # now, not at the first next()
    return _followed(log_dir, service, request_id, poll_s, offsets)


def _followed(
    log_dir: Path,
    service: Iterable[str] | None,
    request_id: str | None,
    poll_s: float,
    offsets: dict[Path, int],
) -> Iterator[dict[str, Any]]:
    traces: set[str] = set()
    while True:
        lines = []
        for path in _files(log_dir, service):
            with path.open("rb") as f:
                if f.seek(0, os.SEEK_END) < offsets.get(path, 0):
                    offsets[path] = 0  # rolled over: the lines past the old offset went to <service>.jsonl.1
                f.seek(offsets.get(path, 0))
                complete, newline, _ = f.read().rpartition(
                    b"\n"
                )  # a line being written waits for the next poll
            offsets[path] = offsets.get(path, 0) + len(complete) + len(newline)
            lines += _parsed(complete.splitlines())
        yield from _of_request(lines, request_id, traces)
        time.sleep(poll_s)


def _files(log_dir: Path, service: Iterable[str] | None) -> list[Path]:
    known = services(log_dir)
    wanted = list(service) if service else known
    if missing := sorted(set(wanted) - set(known)):
        raise InvalidInput(f"--service {missing} wrote no logs in {log_dir}; services with logs: {known}.")
    return [log_file(log_dir, name) for name in wanted]


def _of_request(
    lines: list[dict[str, Any]], request_id: str | None, traces: set[str]
) -> list[dict[str, Any]]:
    """`lines` sorted by time, only those of `request_id` (and of the traces its lines name: added to `traces`)."""
    if request_id is not None:
        traces |= {
            line["trace_id"] for line in lines if line.get("request_id") == request_id and "trace_id" in line
        }
        lines = [
            line for line in lines if line.get("request_id") == request_id or line.get("trace_id") in traces
        ]
    return sorted(lines, key=lambda line: line["ts"])  # threads log out of order by a few ms; sort is stable


def _rolled_over(path: Path) -> Path:
    return path.with_name(f"{path.name}.1")


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return _parsed(f)


def _parsed(raw_lines: Iterable[bytes]) -> list[dict[str, Any]]:
    """The JSON log lines among `raw_lines`; others (cut short by a crash, printed by a library) are skipped."""
    parsed = []
    for raw in raw_lines:
        try:
            line = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(line, dict) and isinstance(line.get("ts"), str):
            parsed.append(line)
    return parsed
