"""Prometheus metrics and the OpenTelemetry tracer of the InferenceGraph router.

Trace context goes in and out through `aiprime.observability.tracing`, as in every other process.
"""

from __future__ import annotations

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TRACER_NAME = "aiprime.serving.graph"
# Local hops take about a millisecond; the default buckets start at 5 ms.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RouterMetrics:
    """The router's metrics, registered in one registry (one per app, so apps in one process do not clash)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register every metric in `registry`."""
        self.requests = Counter(
            "aiprime_router_requests", "Graph requests by entry node and HTTP status.", ["node", "code"],
            registry=registry,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "aiprime_router_request_duration_seconds", "Latency of graph requests by entry node.", ["node"],
            buckets=_BUCKETS, registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "aiprime_router_in_flight_requests", "Graph requests being served.", registry=registry
        )
        self.node_seconds = Histogram(
            "aiprime_router_node_duration_seconds", "Latency of each node run.", ["node"], buckets=_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.step_seconds = Histogram(
            "aiprime_router_step_duration_seconds", "Latency of each step, retries included.",
            ["node", "step"],
            buckets=_BUCKETS, registry=registry,
        )  # fmt: skip
        self.step_errors = Counter(
            "aiprime_router_step_errors",
            "Failed steps: kind is 'transport' (no answer) or 'status' (a non-2xx answer).",
            ["node", "step", "kind"], registry=registry,
        )  # fmt: skip
        self.retries = Counter(
            "aiprime_router_retries",
            "Retried step calls (retry policy).",
            ["node", "step"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "aiprime_router_fallbacks", "Steps sent to their fallback (avoidance policy).", ["node", "step"],
            registry=registry,
        )  # fmt: skip


def tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The router's tracer, from `provider` or the globally configured one (a no-op unless set up)."""
    return (provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)
