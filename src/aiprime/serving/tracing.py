"""The model servers' tracer.

The router injects the trace context into every step call, and a server's span for the request continues
it (`aiprime.observability.tracing.request_context`), so one trace covers router, gate and expert. The
servers' spans go to the file `--trace_file` names (`aiprime.observability.tracing.configure_tracing`).
"""

from __future__ import annotations

from opentelemetry import trace

TRACER_NAME = "aiprime.serving"


def tracer() -> trace.Tracer:
    """The servers' tracer, from the global provider."""
    return trace.get_tracer(TRACER_NAME)
