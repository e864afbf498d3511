"""The model servers' tracer.

The router injects the trace context into every step call, and a server's span for the request continues
it (`aiprime.observability.tracing.request_context`), so one trace covers router, gate and expert. The
servers' spans go to the file `--trace_file` names (`aiprime.observability.tracing.configure_tracing`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace

TRACER_NAME = "aiprime.serving"


def tracer() -> trace.Tracer:
    """The servers' tracer, from the global provider."""
    return trace.get_tracer(TRACER_NAME)


@contextlib.contextmanager
def database_span(operation: str, collection: str) -> Iterator[trace.Span]:
    """A CLIENT span around one PostgreSQL call, named and labelled as OpenTelemetry's database conventions ask
    (`db.system.name`, `db.operation.name`, `db.collection.name`), so a trace shows the time spent in the
    database apart from the server's own work."""
    attributes = {
        "db.system.name": "postgresql",
        "db.operation.name": operation,
        "db.collection.name": collection,
    }
    with tracer().start_as_current_span(
        f"{operation} {collection}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span
