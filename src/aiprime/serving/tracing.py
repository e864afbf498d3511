"""OpenTelemetry tracing of the model servers and the local router: continue the caller's W3C trace.

The router injects a `traceparent` header into every step call; the server's spans for the request continue
it, so one trace covers router, gate and expert. Spans go to a JSON-lines file when one is given
(`--trace_file`; one span per line, as `ReadableSpan.to_json` writes it), else nowhere: the API's no-op
tracer costs next to nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "aiprime.serving"
_PROPAGATOR = TraceContextTextMapPropagator()


class JsonLinesExporter(SpanExporter):
    """Appends each finished span to a file as one line of JSON."""

    def __init__(self, path: Path) -> None:
        """Write to `path` (its folder is created)."""
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append `spans`."""
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with self._lock, self._path.open("a") as f:
            f.write(lines)
        return SpanExportResult.SUCCESS


def configure_tracing(service: str, trace_file: Path | None) -> TracerProvider | None:
    """Install a global tracer provider for `service` that writes to `trace_file`; None without a file."""
    if trace_file is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(trace_file)))
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    """The servers' tracer, from the global provider."""
    return trace.get_tracer(TRACER_NAME)


def incoming_context(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context in a request's `traceparent`/`tracestate` headers (an empty one without them)."""
    return _PROPAGATOR.extract({k.lower(): v for k, v in (headers or {}).items()})


def request_context(headers: Mapping[str, str] | None) -> tuple[context.Context, trace.SpanKind]:
    """Where a server's span for a request starts, and its kind.

    FastAPI (0.16x) already opens a SERVER span that continues the caller's `traceparent`; the model's span
    nests under it. Without one, the model's span is the server span and continues the caller's trace itself.
    """
    if trace.get_current_span().get_span_context().is_valid:
        return context.get_current(), trace.SpanKind.INTERNAL
    return incoming_context(headers), trace.SpanKind.SERVER
