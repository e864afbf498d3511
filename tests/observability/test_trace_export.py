"""Spans over OTLP into a real MLflow: one request through the RAG graph is one trace in MLflow's store, across
the router and the real KServe servers (gate, expert, retriever, generator), and `aiprime trace` prints it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _helpers import AsgiServer, free_port
from _helpers.chat_stub import chat_app
from _helpers.processes import ModelServerProcess, aiprime_server
from _helpers.rag import DOG, DOG_GLOSS, ingested_collection

from aiprime.errors import ConfigError, NotFound
from aiprime.moe.experts import domains
from aiprime.observability.export import mlflow_target, otlp_environment, parse_headers
from aiprime.observability.traces import Trace, TraceStores, find_traces
from aiprime.rag.corpus import Document
from aiprime.serving import smoke
from aiprime.serving.names import domain_name, service_name
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = [DOG_GLOSS, Document("wn:hammer.n.02", "wordnet", "artifacts", "hammer", "hammer: a tool for nails")]


def test_headers_setting_is_parsed_and_a_bad_pair_names_the_fix() -> None:
    assert parse_headers(" X-MLflow-Experiment-Id=3, authorization=Bearer t ") == {
        "x-mlflow-experiment-id": "3",
        "authorization": "Bearer t",
    }
    with pytest.raises(ConfigError, match="AIPRIME_OTLP_HEADERS.*name=value"):
        parse_headers("x-mlflow-experiment-id")


def test_without_mlflow_the_stack_keeps_its_spans_files_only() -> None:
    down = Settings(mlflow_port=free_port(), _env_file=None)
    assert otlp_environment(mlflow_target(down)) == {}
    chosen = Settings(otlp_endpoint="http://collector:4318/v1/traces", _env_file=None)
    assert otlp_environment(mlflow_target(chosen)) == {
        "AIPRIME_OTLP_ENDPOINT": "http://collector:4318/v1/traces",
        "AIPRIME_OTLP_HEADERS": "",
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> dict[str, Path]:
    """The gate and six experts, tiny, trained here on real glosses."""
    try:
        table = smoke.classification_table(REPO / smoke.SPLIT_FILE)
    except Exception as e:  # noqa: BLE001 - any missing source means: no data to train on here
        pytest.skip(f"no gloss data to train tiny models on: {e}")
    out = tmp_path_factory.mktemp("traced-models")
    return smoke.train_tiny(smoke.sample_glosses(table, per_domain=16), out, embedding_cache)


@pytest.fixture(scope="module")
def collection(app_db_url: str, embedding_cache: Path) -> str:
    """DOCS in a collection of their own."""
    return ingested_collection(app_db_url, DOCS, embedding_cache, "test-traced")


@pytest.fixture(scope="module")
def exporting_env(mlflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment `aiprime serve --trace` gives its processes when MLflow runs: spans to its /v1/traces."""
    settings = Settings(mlflow_tracking_uri=mlflow_url, _env_file=None)
    home = tmp_path_factory.mktemp("traced-home")
    return {**os.environ, **otlp_environment(mlflow_target(settings)), "AIPRIME_HOME": str(home),
            "HF_HUB_OFFLINE": "1"}  # fmt: skip


@pytest.fixture(scope="module")
def rag_router(
    models, collection, pg_server_url: str, exporting_env: dict[str, str], tmp_path_factory
) -> Iterator[tuple[str, Path]]:
    """`aiprime router` on kserve/graphs/rag.yaml over real servers, every one exporting its spans to MLflow;
    the router also writes its spans file. Only the expert the gate picks for DOG runs."""
    logs = tmp_path_factory.mktemp("traced-logs")
    with (
        AsgiServer(chat_app()) as chat,
        ModelServerProcess("gate", ["--model_dir", str(models["gate"])], logs / "gate.log", env=exporting_env) as gate,
    ):  # fmt: skip
        route = gate.predict({"instances": [DOG]}).json()["predictions"][0]["expert"]
        expert = service_name("expert", domain_name(route))
        servers = [
            ModelServerProcess("expert", ["--model_dir", str(models[expert]), "--domain", domain_name(route)],
                               logs / "expert.log", name=expert, env=exporting_env),
            ModelServerProcess("retriever", ["--database_url", pg_server_url, "--collection", collection,
                                             "--reranker", "none"], logs / "retriever.log", env=exporting_env),
            ModelServerProcess("generator", ["--generator_url", chat.url], logs / "generator.log", env=exporting_env),
        ]  # fmt: skip
        try:
            for server in servers:
                server.wait_ready()
            services = _services_file(
                logs, {"gate": gate.predict_url, **{s.name: s.predict_url for s in servers}}
            )
            spans = logs / "router.jsonl"
            args = ["router", "--graph", str(REPO / "kserve/graphs/rag.yaml"), "--services", str(services),
                    "--trace-file", str(spans)]  # fmt: skip
            forwarding = {
                **exporting_env,
                "PROPAGATE_HEADERS": "X-Request-Id",
            }  # the servers stamp it on spans
            with aiprime_server(args, free_port(), logs / "router.log", forwarding) as url:
                yield url, spans
        finally:
            for server in servers:
                server.stop()


def _services_file(folder: Path, running: dict[str, str]) -> Path:
    """The serviceName -> URL map: the running servers, and a closed port for the experts not started."""
    closed = f"http://127.0.0.1:{free_port()}"
    names = ["gate", *(service_name("expert", d) for d in domains()), "retriever", "generator"]
    path = folder / "services.yaml"
    path.write_text("".join(f"{n}: {running.get(n, f'{closed}/v1/models/{n}:predict')}\n" for n in names))
    return path


def _stored_trace(request_id: str, stores: TraceStores) -> Trace:
    """The request's trace in MLflow once the span of every process is in (batches leave about every 5 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            (found,) = find_traces(request_id, stores)
        except NotFound as e:  # not yet exported: the router's file or MLflow's store
            found = e
        if isinstance(found, Trace) and found.source == stores.mlflow_url and _complete(found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


def _complete(found: Trace) -> bool:
    """Every process's spans are in, the retriever's database call among them (batches leave apart)."""
    return len(_processes(found)) >= 5 and any(s.name.startswith("hybrid search") for s in found.spans)


def _processes(found: Trace) -> set[str]:
    return {s.service for s in found.spans}


@pytest.mark.slow
def test_one_rag_request_is_one_trace_in_mlflow_across_the_processes(
    rag_router, mlflow_url: str, exporting_env: dict[str, str]
) -> None:
    url, spans_file = rag_router
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    answer = httpx.post(url, json={"instances": [DOG]}, headers={"x-request-id": request_id}, timeout=300)
    assert answer.status_code == 200, answer.text
    log_dir = Path(exporting_env["AIPRIME_HOME"]) / "logs"
    found = _stored_trace(request_id, TraceStores(mlflow_url, "aiprime-traces", [spans_file], log_dir))
    services = _processes(found)
    assert len(found.spans) >= 6 and len(services) >= 4, [(s.service, s.name) for s in found.spans]
    assert {"router", "gate", "retriever", "generator"} <= services
    assert any(s.name.startswith("hybrid search test-traced-") for s in found.spans)  # the database call
    roots = [s for s in found.spans if s.parent_id is None]
    assert [r.service for r in roots] == ["router"], roots  # every server's span hangs under the router's
    args = ("trace", request_id, "--spans", str(spans_file), "--mlflow", mlflow_url)
    shown = _aiprime(*args, env={**exporting_env, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert found.trace_id in shown.stdout and "from " + mlflow_url in shown.stdout
    assert all(name in shown.stdout for name in ("node root", "retriever", "generator"))
    # The command reads the store later than the test did: a span exported in between (the generator's last
    # ones) may be counted too, never fewer.
    counted = re.search(r"(\d+) spans in (\d+) processes", shown.stdout)
    assert counted and int(counted[1]) >= len(found.spans) and int(counted[2]) >= len(services), shown.stdout


def test_an_unknown_request_id_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    env = {**os.environ, "AIPRIME_HOME": str(tmp_path), "AIPRIME_MLFLOW_PORT": str(free_port())}
    shown = _aiprime("trace", "no-such-request", env=env)
    assert shown.returncode == 1
    assert "No trace of 'no-such-request'" in shown.stderr and "aiprime logs --request" in shown.stderr
    assert "Traceback" not in shown.stderr


def _aiprime(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("aiprime")), *args]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False
    )
