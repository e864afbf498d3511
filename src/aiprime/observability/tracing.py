"""OpenTelemetry tracing of every AI Prime process: one tracer provider, one way to carry context.

Context crosses processes in the headers that OpenTelemetry's global propagator reads and writes
(`opentelemetry.propagate`): W3C `traceparent`/`tracestate` and `baggage` by default, or whatever
`OTEL_PROPAGATORS` names (read once, when `opentelemetry.propagate` is first imported). The gateway, the
router and the model servers all extract and inject through `extract` and `inject` here, so one request
is one trace across them and its baggage travels with it.

`configure_tracing` gives a process a global SDK provider whose spans `BatchSpanProcessor`s export off the
request path: over OTLP/HTTP (to MLflow's `/v1/traces` or a Collector) and/or to a JSON-lines file, as
`aiprime.observability.export` decides from the settings. The spans still queued are exported by `flush`,
which the gateway and the router call when their app shuts down, and when the provider shuts down at
interpreter exit (the SDK registers that with `atexit`). With nowhere to send them nothing is configured and
the API's no-op tracer costs next to nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from aiprime.observability.export import span_exporters
from aiprime.observability.logs import current_request_id
from aiprime.settings import Settings

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
SERVICE_ATTRIBUTE = "aiprime.service"  # the process that recorded a span
REQUEST_ID_ATTRIBUTE = "aiprime.request_id"  # the X-Request-Id of the request it served


def configure_tracing(
    service: str, trace_file: Path | None, settings: Settings | None = None
) -> TracerProvider | None:
    """Install a global tracer provider for `service` that batches its spans to where it is told.

    Spans go over OTLP when `settings` name an endpoint, and to `trace_file` when given
    (`aiprime.observability.export`). Returns the provider, or None (nothing installed) when they go nowhere.
    Spans still queued are exported when the provider shuts down: at interpreter exit, or on
    `provider.shutdown()`.
    """
    exporters = span_exporters(settings, trace_file)
    if not exporters:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(ServiceAttributes(service))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


class ServiceAttributes(SpanProcessor):
    """Names the process and the request on every span it starts (`aiprime.service`, `aiprime.request_id`).

    A trace store that keeps one resource per trace (MLflow) would otherwise lose which process each span
    came from.
    """

    def __init__(self, service: str) -> None:
        """Stamp `service` on every span."""
        self._service = service

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        """Set the attributes as the span starts."""
        span.set_attribute(SERVICE_ATTRIBUTE, self._service)
        if (request_id := current_request_id()) is not None:
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)


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
