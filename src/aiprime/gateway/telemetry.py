"""The gateway's observability: Prometheus RED metrics per route, OpenTelemetry spans.

Its JSON logs are every process's: `aiprime.observability.logs`.

Metric names are what the SLO rules in `kustomize/observability/` query; `tests/gateway/test_slo_rules.py`
checks that every expression there names a series this module exports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aiprime.observability import tracing

TRACER_NAME = "aiprime.gateway"
LOGGER = "aiprime.gateway"
# From 1 ms (an auth failure) to 30 s (the upstream timeout); 0.25/0.5/1 s are the latency SLO's thresholds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """Every metric of one gateway app, in one registry (so two apps in a process do not clash)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the metrics in `registry`."""
        labels = ["route", "method"]
        self.requests = Counter(
            "aiprime_gateway_requests",
            "Requests answered, by route template, method and HTTP status.",
            [*labels, "code"],
            registry=registry,
        )
        self.errors = Counter(
            "aiprime_gateway_request_errors",
            "Requests answered with a 5xx status (the availability SLO's bad events).",
            [*labels, "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "aiprime_gateway_request_duration_seconds",
            "Time from the first byte read to the answer, by route template.",
            labels,
            buckets=BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "aiprime_gateway_in_flight_requests", "Requests being served.", registry=registry
        )
        self.upstream_duration = Histogram(
            "aiprime_gateway_upstream_duration_seconds",
            "Upstream calls, by upstream and outcome.",
            ["upstream", "outcome"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.auth_failures = Counter(
            "aiprime_gateway_auth_failures",
            "Refused credentials and permissions, by reason.",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "aiprime_gateway_rate_limited", "Requests refused with 429.", registry=registry
        )
        self.audit_backlog = Gauge(
            "aiprime_gateway_audit_backlog", "Audit entries not yet written.", registry=registry
        )
        self.audit_write_failures = Counter(
            "aiprime_gateway_audit_write_failures",
            "Failed audit batch writes (retried; the backlog grows meanwhile).",
            registry=registry,
        )


def continued_context(headers: Iterable[tuple[bytes, bytes]]) -> contextlib.AbstractContextManager[None]:
    """Make the context (trace parent, baggage) that a request carries in its raw ASGI headers current."""
    return tracing.continued((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)


def trace_id_of(span: trace.Span) -> str | None:
    """The span's trace id as 32 hex digits, or None for a non-recording (invalid) span."""
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
