"""Batch jobs' metrics: written for the textfile collector, pushed to a Pushgateway when one is configured."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiprime.observability.jobmetrics import DriftMetrics, TrainingMetrics, publish


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value of a Prometheus text exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A real HTTP server on 127.0.0.1 that answers Pushgateway pushes (PUT /metrics/job/<job>) and keeps them."""
    received: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    thread.join()


def test_a_drift_check_is_written_for_the_textfile_collector(tmp_path: Path) -> None:
    metrics = DriftMetrics()
    metrics.record(mmd_p_value=0.001, routing_p_value=0.4, drifted=True, requests=500)
    path = publish(metrics.registry, "drift", tmp_path / "metrics")
    assert path == tmp_path / "metrics" / "drift.prom"
    found = samples(path.read_text())
    assert found[("aiprime_drift_p_value", frozenset({("test", "mmd")}))] == 0.001
    assert found[("aiprime_drift_detected", frozenset())] == 1.0
    assert found[("aiprime_drift_window_requests", frozenset())] == 500
    assert found[("aiprime_drift_last_run_timestamp_seconds", frozenset())] > 0


def test_a_training_run_is_pushed_when_a_pushgateway_is_set(tmp_path: Path, pushgateway) -> None:
    url, received = pushgateway
    metrics = TrainingMetrics()
    scores = {"gate.accuracy": 0.81, "system.accuracy": 0.62, "routing.utilisation_cv": 0.35, "mlflow": "x"}
    metrics.record(scores, {"aiprime-gate": True, "aiprime-dense": False})
    publish(metrics.registry, "training", tmp_path, url)
    ((path, body),) = received
    assert path == "/metrics/job/aiprime-training"
    found = samples(body.decode())
    assert found[("aiprime_training_accuracy", frozenset({("model", "gate")}))] == 0.81
    assert found[("aiprime_training_utilisation_cv", frozenset())] == 0.35
    assert found[("aiprime_training_promoted", frozenset({("registered_model", "aiprime-dense")}))] == 0.0
    assert samples((tmp_path / "training.prom").read_text()) == found
