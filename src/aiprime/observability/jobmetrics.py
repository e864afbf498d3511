"""Prometheus metrics of batch jobs (drift checks, training runs), which no one can scrape once they end.

A job fills its metrics in a registry of its own and `publish`es them: in Prometheus' text format to
`<AIPRIME_HOME>/metrics/<job>.prom` (the node exporter's textfile collector reads such a folder; the
dashboards read the same names), and to a Pushgateway when AIPRIME_PUSHGATEWAY_URL is set (how a cluster's
Dagster run pods hand theirs to Prometheus).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile


class DriftMetrics:
    """The last drift check of the gate's traffic (`aiprime.drift`)."""

    def __init__(self) -> None:
        """Register the metrics in a registry of their own."""
        self.registry = CollectorRegistry()
        self.p_value = Gauge(
            "aiprime_drift_p_value", "p-value of the last drift check, by test: mmd (embeddings), routing "
            "(chi-square of the gate's choices).", ["test"], registry=self.registry,
        )  # fmt: skip
        self.detected = Gauge(
            "aiprime_drift_detected", "1 when the last check found drift, else 0.", registry=self.registry
        )
        self.requests = Gauge(
            "aiprime_drift_window_requests",
            "Logged requests the last check compared.",
            registry=self.registry,
        )
        self.last_run = Gauge(
            "aiprime_drift_last_run_timestamp_seconds", "When the last check ran.", registry=self.registry
        )

    def record(self, mmd_p_value: float, routing_p_value: float, drifted: bool, requests: int) -> None:
        """Set the metrics to one check's outcome."""
        self.p_value.labels("mmd").set(mmd_p_value)
        self.p_value.labels("routing").set(routing_p_value)
        self.detected.set(int(drifted))
        self.requests.set(requests)
        self.last_run.set(time.time())


class TrainingMetrics:
    """The last finished run of the moe-training pipeline (`aiprime.training`)."""

    def __init__(self) -> None:
        """Register the metrics in a registry of their own."""
        self.registry = CollectorRegistry()
        self.accuracy = Gauge(
            "aiprime_training_accuracy", "Test accuracy of the last run, by model: gate, system, system_top2, "
            "dense.", ["model"], registry=self.registry,
        )  # fmt: skip
        self.utilisation_cv = Gauge(
            "aiprime_training_utilisation_cv",
            "Coefficient of variation of the experts' shares of the test set under the gate (0: balanced).",
            registry=self.registry,
        )
        self.promoted = Gauge(
            "aiprime_training_promoted", "1 when the run's challenger became champion, by registered model.",
            ["registered_model"], registry=self.registry,
        )  # fmt: skip
        self.last_success = Gauge(
            "aiprime_training_last_success_timestamp_seconds", "When a training run last finished.",
            registry=self.registry,
        )  # fmt: skip

    def record(self, scores: Mapping[str, float], promotions: Mapping[str, bool]) -> None:
        """Set the metrics to one run's outcome: `scores` as `training_metadata` names them
        (`gate.accuracy`, ..., `routing.utilisation_cv`), `promotions` registered model -> promoted."""
        for key, value in scores.items():
            if key.endswith(".accuracy"):
                self.accuracy.labels(key.removesuffix(".accuracy")).set(float(value))
        if "routing.utilisation_cv" in scores:
            self.utilisation_cv.set(float(scores["routing.utilisation_cv"]))
        for name, promoted in promotions.items():
            self.promoted.labels(name).set(int(promoted))
        self.last_success.set(time.time())


def publish(
    registry: CollectorRegistry, job: str, metrics_dir: Path, pushgateway_url: str | None = None
) -> Path:
    """Write `registry` to `<metrics_dir>/<job>.prom` (atomically), and push it when a Pushgateway is given."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    path = metrics_dir / f"{job}.prom"
    write_to_textfile(str(path), registry)
    if pushgateway_url:
        push_to_gateway(pushgateway_url, job=f"aiprime-{job}", registry=registry)
    return path
