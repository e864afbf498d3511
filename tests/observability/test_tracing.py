"""One way to carry trace context (opentelemetry.propagate, so OTEL_PROPAGATORS and baggage count) and spans
batched to a file, flushed when the process exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from opentelemetry import baggage, context, trace

from aiprime.observability.tracing import extract, inject

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_trace_parent_and_baggage_go_through_unchanged() -> None:
    incoming = extract([("Traceparent", TRACEPARENT), ("baggage", "tenant=acme"), ("Baggage", "plan=gold")])
    assert format(trace.get_current_span(incoming).get_span_context().trace_id, "032x") == TRACE_ID
    assert baggage.get_all(incoming) == {"tenant": "acme", "plan": "gold"}  # repeated headers are joined
    outgoing: dict[str, str] = {}
    token = context.attach(incoming)
    try:
        inject(outgoing)
    finally:
        context.detach(token)
    assert outgoing == {"traceparent": TRACEPARENT, "baggage": "tenant=acme,plan=gold"}


def run_python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter (OpenTelemetry reads OTEL_PROPAGATORS once, at import)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


FORWARD = f"""
from opentelemetry import context
from aiprime.observability.tracing import extract, inject
context.attach(extract({{"traceparent": "{TRACEPARENT}", "baggage": "tenant=acme"}}))
outgoing = {{}}
inject(outgoing)
print(sorted(outgoing))
"""


def test_otel_propagators_picks_what_travels() -> None:
    assert run_python(FORWARD, OTEL_PROPAGATORS="baggage,tracecontext") == "['baggage', 'traceparent']\n"
    assert run_python(FORWARD, OTEL_PROPAGATORS="tracecontext") == "['traceparent']\n"


def test_spans_are_batched_to_the_file_and_flushed_when_the_process_exits(tmp_path: Path) -> None:
    code = f"""
from pathlib import Path
from opentelemetry import trace
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from aiprime.observability.tracing import configure_tracing
provider = configure_tracing("unit", Path({str(tmp_path / "spans.jsonl")!r}))
processors = provider._active_span_processor._span_processors
assert [type(p) for p in processors][1:] == [BatchSpanProcessor], processors  # after ServiceAttributes
for name in ("first", "second"):
    with trace.get_tracer("test").start_as_current_span(name):
        pass
"""
    run_python(code)
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert [s["name"] for s in spans] == ["first", "second"]
    assert spans[0]["resource"]["attributes"]["service.name"] == "unit"
    assert spans[0]["attributes"]["aiprime.service"] == "unit"  # MLflow keeps span attributes, not resources
