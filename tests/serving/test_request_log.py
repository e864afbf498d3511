"""The gate logs what it serves to the real request log, off the request path, and serves on when it cannot."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from _helpers import free_port
from _helpers.gates import served_gate, train_gate
from prometheus_client import CollectorRegistry

from aiprime.db.engine import connect
from aiprime.db.urls import database_url
from aiprime.drift.requests import LoggedRequest, recent_requests
from aiprime.provenance.facts import gate_decisions
from aiprime.serving.metrics import RequestLogMetrics
from aiprime.serving.request_log import RequestLog, request_log

pytestmark = pytest.mark.usefixtures("default_metrics_registry")  # it builds the gate's server object

REPO = Path(__file__).resolve().parents[2]
DOG = "a domestic animal that barks and is kept as a pet"
RUN = "move fast by using one's feet"


@pytest.fixture(scope="module")
def gate(subset_splits: Path, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """The gate server's model object, loaded from a tiny real gate (one per process: it registers metrics)."""
    folder = train_gate(
        subset_splits / "classification.parquet", embedding_cache, tmp_path_factory.mktemp("gate")
    )
    return served_gate(folder)


def _writer(url: str, model: str, **kwargs) -> tuple[RequestLog, RequestLogMetrics]:
    metrics = RequestLogMetrics(CollectorRegistry())
    return RequestLog(url, model, flush_interval_s=0.05, metrics=metrics, **kwargs), metrics


def _failed(metrics: RequestLogMetrics, model: str, reason: str) -> float:
    return metrics.failed.labels(model, reason)._value.get()


@pytest.mark.slow
def test_the_gate_logs_each_text_with_its_embedding_and_choice(gate, pg_server_url, app_db_url) -> None:
    gate.request_log, metrics = _writer(pg_server_url, gate.name)
    gate.request_log.start()
    answer, _ = asyncio.run(gate({"instances": [DOG, {"text": RUN}]}, headers={}))  # (body, headers)
    assert gate.request_log.flush()
    gate.request_log.close()
    embeddings, experts = recent_requests(connect(app_db_url), 10, model=gate.name)
    expected = gate.classifier.encoder.embed([DOG, RUN]).numpy()  # (2, 384)
    choices = gate.classifier.probabilities(gate.classifier.encoder.embed([DOG, RUN])).argmax(axis=1)
    assert experts == [gate.classifier.classes[i] for i in choices]
    assert np.allclose(embeddings, expected, atol=1e-5)
    assert answer["predictions"][0]["instances"] == [DOG, {"text": RUN}]  # the answer is unchanged
    assert metrics.written.labels(gate.name)._value.get() == 2


@pytest.mark.slow
def test_a_database_that_is_down_costs_no_request(gate, caplog) -> None:
    down = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"
    gate.request_log, metrics = _writer(down, gate.name)
    gate.request_log.start()
    with caplog.at_level(logging.WARNING, logger="aiprime.serving.request_log"):
        answer, _ = asyncio.run(gate({"instances": [DOG, RUN]}, headers={}))
        assert gate.request_log.flush()
    gate.request_log.close()
    assert answer["predictions"][0]["expert"] in gate.classifier.classes
    assert _failed(metrics, gate.name, "database") == 2
    assert "dropped 2 request(s)" in caplog.text and "AIPRIME_DATABASE_URL" in caplog.text


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    writer, metrics = _writer("postgresql+psycopg://u@127.0.0.1:1/x", "gate", max_queued=3)  # never started
    requests = [LoggedRequest("gate", np.zeros(384, dtype=np.float32), "actions", 0.9)] * 1000
    started = time.perf_counter()
    writer.submit(requests)
    assert time.perf_counter() - started < 0.5
    assert _failed(metrics, "gate", "queue_full") == 997


def test_logging_is_off_without_a_database() -> None:
    assert request_log(None, "gate") is None


def test_aiprime_serve_gives_the_gate_the_running_database_and_none_without_one(
    pg_server_url: str, tmp_path: Path
) -> None:
    from aiprime.serving import launcher
    from aiprime.settings import Settings

    def gate_argv(settings: Settings) -> list[str]:
        servers = launcher.plan(launcher.ServeOptions(router_port=0, kserve_dir=REPO / "kserve"), settings)
        return list(next(s for s in servers if s.name == "gate").argv)

    with_db = gate_argv(Settings(home=tmp_path / "a", database_url=pg_server_url, _env_file=None))
    assert with_db[with_db.index("--database_url") + 1] == database_url(pg_server_url, "postgres")
    assert "--database_url" not in gate_argv(
        Settings(home=tmp_path / "b", _env_file=None)
    )  # nothing runs there


@pytest.mark.slow
def test_the_gate_logs_the_request_id_it_was_sent_with(gate, pg_server_url, app_db_url) -> None:
    gate.request_log, _ = _writer(pg_server_url, gate.name)
    gate.request_log.start()
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    asyncio.run(gate({"instances": [DOG, {"text": RUN}]}, headers={"x-request-id": request_id}))
    assert gate.request_log.flush()
    gate.request_log.close()
    decisions = gate_decisions(connect(app_db_url), request_id)
    assert [(d.server, d.model_version) for d in decisions] == [(gate.name, None)] * 2  # a folder: no version
