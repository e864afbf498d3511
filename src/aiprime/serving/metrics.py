"""Prometheus metrics of AI Prime's model servers, beside KServe's own (`request_predict_seconds`, ...).

They go to the registry that KServe's `/metrics` exposes (prometheus_client's default), so one scrape of a
server shows both. Create them once per process (a `ServingModel` does).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

IN_FLIGHT = "aiprime_model_in_flight_requests"  # read by the gate's load watcher (`aiprime.serving.load`)
MAX_IN_FLIGHT = "aiprime_model_max_in_flight"
# A gate over six experts is at least 1/6 sure of its first choice; 0.5 is the usual "confident" line.
CONFIDENCE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


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
        self.confidence = Histogram(
            "aiprime_gate_confidence", "The gate's probability of its first choice, per request, by that expert.",
            ["expert"], buckets=CONFIDENCE_BUCKETS, registry=registry,
        )  # fmt: skip


class GeneratorMetrics:
    """What the generator answered: generated, extractive (the best passage quoted) or abstained."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        """Register the metrics in `registry`."""
        self.answers = Counter(
            "aiprime_generator_answers", "Answers by mode: generated, extractive, abstained.", ["mode"],
            registry=registry,
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
