"""A request's trace read back: from MLflow's trace store, or from the processes' spans files.

A request is found by its trace id (32 hex digits, or MLflow's `tr-<hex>`) or by its `X-Request-Id`: the
traces whose spans `tracing.ServiceAttributes` stamped with it (in MLflow's traces experiment, and in the
spans files), and the trace ids of the log lines that carry it (`aiprime logs`). A server sees the id when
the router forwards it (`PROPAGATE_HEADERS=X-Request-Id`). `aiprime trace` renders what `find_traces`
returns as a tree with timings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from aiprime.errors import NotFound
from aiprime.observability.export import experiment_id
from aiprime.observability.logs import read_logs
from aiprime.observability.tracing import REQUEST_ID_ATTRIBUTE, SERVICE_ATTRIBUTE

_TRACE_ID = re.compile(r"(?:tr-)?([0-9a-f]{32})")
_MLFLOW_PREFIX = "tr-"


@dataclass(frozen=True)
class SpanRecord:
    """One span of a trace, as stored."""

    name: str
    span_id: str  # 16 hex digits
    parent_id: str | None  # None for the trace's root (or a span whose parent was not exported)
    service: str  # the process that recorded it (`aiprime.service`, else the resource's service.name)
    start_ns: int  # epoch nanoseconds
    end_ns: int
    status: str  # OK, ERROR or UNSET

    @property
    def duration_ms(self) -> float:
        """How long the span took."""
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class TraceStores:
    """Where traces are read: an MLflow server (None: none) and its experiment, spans files, log files."""

    mlflow_url: str | None
    experiment: str  # the MLflow experiment holding the traces (Settings.traces_experiment)
    span_files: list[Path]  # files, or folders of *.jsonl
    log_dir: Path


@dataclass(frozen=True)
class Trace:
    """The spans of one trace and where they were read."""

    trace_id: str  # 32 hex digits
    spans: list[SpanRecord]
    source: str  # the MLflow URL or the spans folder


def find_traces(request: str, stores: TraceStores) -> list[Trace]:
    """The traces of `request` (a trace id or an `X-Request-Id`), from MLflow when it answers, else the files.

    Raises:
        NotFound: no trace of that id is stored in either place.
    """
    online = stores.mlflow_url if stores.mlflow_url and _answers(stores.mlflow_url) else None
    on_disk = list(_file_spans(stores.span_files))
    ids = _trace_ids(request, on_disk, stores.log_dir)
    if online and not _TRACE_ID.fullmatch(request.lower()):
        ids = list(dict.fromkeys(ids + _mlflow_trace_ids(online, stores.experiment, request)))
    found = [t for t in (_one_trace(i, online, on_disk, stores.span_files) for i in ids) if t]
    if not found:
        where = f"MLflow at {online} or " if online else ""
        raise NotFound(
            f"No trace of {request!r} in {where}the spans files {[str(p) for p in stores.span_files]}; pass "
            "a trace id or the X-Request-Id of a request served with tracing on (`aiprime serve --trace`), or "
            "find one with `aiprime logs --request ID`."
        )
    return found


def tree(spans: list[SpanRecord]) -> Iterator[tuple[int, SpanRecord]]:
    """The spans depth first, children by start time, each with its depth; orphans count as roots."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        children.setdefault(span.parent_id if span.parent_id in ids else None, []).append(span)

    def walk(parent: str | None, depth: int) -> Iterator[tuple[int, SpanRecord]]:
        for span in children.get(parent, []):
            yield depth, span
            yield from walk(span.span_id, depth + 1)

    return walk(None, 0)


def _trace_ids(request: str, spans_on_disk: list[tuple[str, dict]], log_dir: Path) -> list[str]:
    if match := _TRACE_ID.fullmatch(request.lower()):
        return [match[1]]
    tagged = [tid for tid, s in spans_on_disk if s.get("attributes", {}).get(REQUEST_ID_ATTRIBUTE) == request]
    logged = [line["trace_id"] for line in read_logs(log_dir, None, request) if "trace_id" in line]
    return list(dict.fromkeys(tagged + logged))


def _one_trace(
    trace_id: str, mlflow_url: str | None, spans_on_disk: list[tuple[str, dict]], span_files: list[Path]
) -> Trace | None:
    if mlflow_url and (spans := _mlflow_spans(mlflow_url, trace_id)):
        return Trace(trace_id, spans, mlflow_url)
    spans = [_from_json(s) for tid, s in spans_on_disk if tid == trace_id]
    return Trace(trace_id, spans, ", ".join(map(str, span_files))) if spans else None


def _mlflow_trace_ids(mlflow_url: str, experiment: str, request: str) -> list[str]:
    """The ids of the traces in `experiment` that have a span stamped with the request id `request`."""
    from mlflow import MlflowClient

    found = experiment_id(mlflow_url, experiment)
    if found is None:
        return []
    plain = request.replace("'", "")  # no quote can end the filter's string
    wanted = f"span.attributes.`{REQUEST_ID_ATTRIBUTE}` LIKE '%{plain}%'"
    traces = MlflowClient(mlflow_url).search_traces(locations=[found], filter_string=wanted, max_results=20)
    return [
        t.info.trace_id.removeprefix(_MLFLOW_PREFIX)
        for t in traces
        if any(s.attributes.get(REQUEST_ID_ATTRIBUTE) == request for s in t.data.spans)  # LIKE matches more
    ]


def _answers(mlflow_url: str) -> bool:
    try:
        return httpx.get(f"{mlflow_url.rstrip('/')}/health", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def _mlflow_spans(mlflow_url: str, trace_id: str) -> list[SpanRecord]:
    """The trace's spans in MLflow's store, or [] when it holds no such trace."""
    from mlflow import MlflowClient  # seconds to import: only when MLflow answers
    from mlflow.exceptions import MlflowException

    try:
        stored = MlflowClient(mlflow_url).get_trace(_MLFLOW_PREFIX + trace_id)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    return [_from_mlflow(span) for span in stored.data.spans]


def _from_mlflow(span) -> SpanRecord:
    attributes = span.attributes
    return SpanRecord(span.name, span.span_id, span.parent_id, str(attributes.get(SERVICE_ATTRIBUTE, "?")),
                      span.start_time_ns, span.end_time_ns or span.start_time_ns, str(span.status.status_code.value))  # fmt: skip


def _file_spans(paths: Iterable[Path]) -> Iterator[tuple[str, dict]]:
    """(trace id, span) of every span in the files (folders: their *.jsonl), skipping unreadable lines."""
    for path in paths:
        for file in sorted(path.glob("*.jsonl")) if path.is_dir() else [path] if path.is_file() else []:
            for line in file.read_text(errors="replace").splitlines():
                try:
                    span = json.loads(line)
                    yield span["context"]["trace_id"].removeprefix("0x"), span
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line still being written, or not a span


def _from_json(span: dict) -> SpanRecord:
    """A span as `ReadableSpan.to_json` wrote it."""
    attributes = span.get("attributes") or {}
    service = attributes.get(SERVICE_ATTRIBUTE) or span["resource"]["attributes"].get("service.name", "?")
    parent = span.get("parent_id")
    return SpanRecord(span["name"], span["context"]["span_id"].removeprefix("0x"),
                      parent.removeprefix("0x") if parent else None, service, _ns(span["start_time"]),
                      _ns(span["end_time"]), span.get("status", {}).get("status_code", "UNSET"))  # fmt: skip


def _ns(timestamp: str) -> int:
    """Epoch nanoseconds of an ISO time as the SDK writes it (microseconds: the JSON's precision)."""
    moment = datetime.fromisoformat(timestamp)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
