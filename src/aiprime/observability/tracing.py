"""OpenTelemetry tracing of every AI Prime process: one tracer provider, one way to carry context.

Context crosses processes in the headers that OpenTelemetry's global propagator reads and writes
(`opentelemetry.propagate`): W3C `traceparent`/`tracestate` and `baggage` by default, or whatever
`OTEL_PROPAGATORS` names (read once, when `opentelemetry.propagate` is first imported). The gateway, the
router and the model servers all extract and inject through `extract` and `inject` here, so one request
is one trace across them and its baggage travels with it.

`configure_tracing` gives a process a global SDK provider whose spans a `BatchSpanProcessor` writes to a
JSON-lines file (one span per line, as `ReadableSpan.to_json` writes it), off the request path. The spans
still queued are written by `flush`, which the gateway and the router call when their app shuts down, and
when the provider shuts down at interpreter exit (the SDK registers that with `atexit`). Without a file
nothing is configured and the API's no-op tracer costs next to nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


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
    """Install a global tracer provider for `service` that batches its spans to `trace_file`.

    Returns the provider, or None (nothing installed) without a file. Spans still queued are written when
    the provider shuts down: at interpreter exit, or on `provider.shutdown()`.
    """
    if trace_file is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(JsonLinesExporter(trace_file)))
    trace.set_tracer_provider(provider)
    return provider


def flush() -> None:
    """Write the spans the global provider still holds; servers call it when they shut down.

    uvicorn re-raises the SIGTERM it shut down on, so `atexit` handlers do not run in its processes.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def extract(headers: Headers | None) -> context.Context:
    """The context an incoming request carries in its headers (trace parent, baggage), or an empty one.

    Header names are matched case-insensitively; repeated headers are joined with commas, as HTTP allows.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    carrier: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        carrier[key] = f"{carrier[key]},{value}" if key in carrier else value
    return propagate.extract(carrier)


@contextlib.contextmanager
def continued(headers: Headers | None) -> Iterator[None]:
    """Make the context an incoming request carries current while the request is served.

    Spans started inside continue the caller's trace, and `inject` passes its baggage on (a span started
    with `context=extract(...)` would continue the trace but leave the baggage behind).
    """
    token = context.attach(extract(headers))
    try:
        yield
    finally:
        context.detach(token)


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current context (the active span's `traceparent`, the baggage) into outgoing `headers`."""
    propagate.inject(headers)


def request_context(headers: Headers | None) -> tuple[context.Context, trace.SpanKind]:
    """Where a server's own span for a request starts, and its kind, so a request has one SERVER span.

    FastAPI (0.16x) opens a SERVER span that continues the caller's context when a tracer provider is
    configured; a span started inside it nests under it as INTERNAL. Without one, the server's span is the
    SERVER span and continues the caller's context itself.
    """
    if trace.get_current_span().get_span_context().is_valid:
        return context.get_current(), trace.SpanKind.INTERNAL
    return extract(headers), trace.SpanKind.SERVER
