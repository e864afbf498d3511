"""A request's trace read back from the spans files when MLflow is not there: found by its request id, as a tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from aiprime.errors import NotFound
from aiprime.observability.export import JsonLinesExporter
from aiprime.observability.logs import bound_request_id
from aiprime.observability.traces import TraceStores, find_traces, tree
from aiprime.observability.tracing import ServiceAttributes


def process(service: str, spans: Path) -> trace.Tracer:
    """The tracer of one process writing its spans file, as `configure_tracing` sets it up (unbatched)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(ServiceAttributes(service))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(spans / f"{service}.jsonl")))
    return provider.get_tracer(service)


def test_a_request_is_found_in_the_spans_files_by_its_id_and_shown_as_a_tree(tmp_path: Path) -> None:
    router, gate = process("router", tmp_path), process("gate", tmp_path)
    with bound_request_id("req-1"), router.start_as_current_span("node root"):
        with router.start_as_current_span("step root/gate"), gate.start_as_current_span("gate predict"):
            pass
        with router.start_as_current_span("step root/expert"):
            pass
    with router.start_as_current_span("another request"):
        pass
    stores = TraceStores(None, "aiprime-traces", [tmp_path], tmp_path / "logs")
    (found,) = find_traces("req-1", stores)
    shown = [(depth, span.name, span.service) for depth, span in tree(found.spans)]
    assert shown == [
        (0, "node root", "router"),
        (1, "step root/gate", "router"),
        (2, "gate predict", "gate"),
        (1, "step root/expert", "router"),
    ]
    assert find_traces(found.trace_id, stores)[0].spans == found.spans  # the trace id finds it too
    with pytest.raises(NotFound, match="No trace of 'req-2'"):
        find_traces("req-2", stores)
