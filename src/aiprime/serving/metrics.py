"""Prometheus metrics of AI Prime's model servers, beside KServe's own (`request_predict_seconds`, ...).

They go to the registry that KServe's `/metrics` exposes (prometheus_client's default), so one scrape of a
server shows both. Create them once per process (a `ServingModel` does).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

IN_FLIGHT = "aiprime_model_in_flight_requests"  # read by the gate's load watcher (`aiprime.serving.load`)
MAX_IN_FLIGHT = "aiprime_model_max_in_flight"


class ServerMetrics:
    """Requests a model server holds, turns away and fails."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        """Register the metrics in `registry` (KServe's `/metrics` serves the default one)."""
        self.in_flight = Gauge(IN_FLIGHT, "Requests being served, by model.", ["model"], registry=registry)
        self.max_in_flight = Gauge(
            MAX_IN_FLIGHT, "Requests a model holds before it answers 503 (0: no limit).", ["model"],
            registry=registry,
        )  # fmt: skip
        self.requests = Counter(
            "aiprime_model_requests", "Requests by model, verb (predict/explain) and outcome.",
            ["model", "verb", "outcome"], registry=registry,
        )  # fmt: skip
        self.dropped = Counter(
            "aiprime_model_dropped_requests",
            "Requests answered with an error, by reason: overflow (over --max_in_flight), invalid_input, "
            "not_ready, error.",
            ["model", "reason"], registry=registry,
        )  # fmt: skip


class GateMetrics:
    """The gate's routing decisions."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        """Register the metrics in `registry`."""
        self.selections = Counter(
            "aiprime_gate_selections", "Experts chosen by the gate, by expert and rank (first, second).",
            ["expert", "rank"], registry=registry,
        )  # fmt: skip
        self.avoided = Counter(
            "aiprime_gate_avoided", "Experts passed over by load-aware routing, by reason (not_ready, saturated).",
            ["expert", "reason"], registry=registry,
        )  # fmt: skip


class RequestLogMetrics:
    """What a server's request log (`aiprime.serving.request_log`) wrote to PostgreSQL, and what it lost."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        """Register the metrics in `registry`."""
        self.written = Counter(
            "aiprime_request_log_written", "Requests written to the request_log table, by model.", ["model"],
            registry=registry,
        )  # fmt: skip
        self.failed = Counter(
            "aiprime_request_log_failed",
            "Requests not written to the request_log table, by model and reason: database (the write failed), "
            "queue_full (the writer fell behind).",
            ["model", "reason"], registry=registry,
        )  # fmt: skip
