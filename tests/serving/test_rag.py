"""The RAG path over HTTP: the retriever server (both request shapes, bad requests, a missing collection), and
the RAG graph end to end through the local router on the real gate and experts (`served`), the real
retriever, and the real generator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from _helpers import AsgiServer, free_port
from _helpers.processes import ModelServerProcess
from _helpers.rag import ingested_collection

from aiprime.errors import ConfigError
from aiprime.rag.corpus import Document
from aiprime.serving import launcher
from aiprime.serving.graph import create_app, load_graph
from aiprime.serving.names import domain_name
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOG = "a domestic animal that barks and is kept as a pet"
DOCS = [
    Document(
        "wn:dog.n.01", "wordnet", "living", "dog", "dog: a domesticated animal that barks, kept as a pet"
    ),
    Document("wn:oak.n.01", "wordnet", "living", "oak", "oak: a tree bearing acorns"),
    Document("wn:bat.n.01", "wordnet", "living", "bat", "bat: a nocturnal mouselike mammal that flies"),
    Document("wn:bat.n.05", "wordnet", "artifacts", "bat", "bat: a club for hitting the ball in cricket"),
    Document("wn:hammer.n.02", "wordnet", "artifacts", "hammer", "hammer: a hand tool for driving nails"),
    Document("wn:teacher.n.01", "wordnet", "people_society", "teacher", "teacher: a person who teaches"),
    Document("wn:run.v.01", "wordnet", "actions", "run", "run: move fast on foot"),
    Document("wn:red.a.01", "wordnet", "qualities", "red", "red: having the colour of blood"),
    Document("foldoc:python", "foldoc", "computing", "Python", "Python: an interpreted programming language"),
]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def rag_collection(app_db_url: str, embedding_cache: Path) -> str:
    """DOCS in a collection of their own, embedded with the retriever's model (all-MiniLM-L6-v2)."""
    return ingested_collection(app_db_url, DOCS, embedding_cache, "test-rag")


def retriever_args(server_url: str, collection: str) -> list[str]:
    """The arguments of `python kserve/retriever` on the session's PostgreSQL, without a re-ranker."""
    return ["--database_url", server_url, "--collection", collection, "--reranker", "none",
            "--enable_latency_logging", "false"]  # fmt: skip


@pytest.fixture(scope="module")
def retriever(pg_server_url: str, rag_collection: str, tmp_path_factory) -> Iterator[ModelServerProcess]:
    """The retriever server on the collection."""
    log = tmp_path_factory.mktemp("retriever") / "retriever.log"
    args = retriever_args(pg_server_url, rag_collection)
    with ModelServerProcess("retriever", args, log, env=ENV) as server:
        yield server


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> Iterator[ModelServerProcess]:
    """The real generator: SmolLM2 through llama.cpp, on one thread (the test machine's other core is busy)."""
    log = tmp_path_factory.mktemp("generator") / "generator.log"
    with ModelServerProcess(
        "generator", ["--llama_threads", "1", "--max_tokens", "48"], log, env=ENV
    ) as server:
        yield server


def test_retriever_answers_plain_questions_over_http(retriever) -> None:
    answer = httpx.post(retriever.predict_url, json={"instances": [DOG, {"text": "a tool for driving nails"}]},
                        timeout=60)  # fmt: skip
    assert answer.status_code == 200, answer.text
    dog, hammer = answer.json()["predictions"]
    assert (dog["question"], dog["domain"], "expert" in dog) == (DOG, None, False)
    assert len(dog["hits"]) == 4 and dog["hits"][0]["doc_id"] == "wn:dog.n.01"
    assert hammer["hits"][0]["doc_id"] == "wn:hammer.n.02"
    assert set(dog["hits"][0]) == {"doc_id", "title", "content", "source", "domain", "score"}


def test_retriever_takes_an_experts_response_and_prefers_its_domain(retriever) -> None:
    def first_hit(expert: str) -> dict:
        record = {"expert": expert, "probability": 0.9, "scores": {"x": 1.0}, "instances": ["bat"]}
        answer = httpx.post(retriever.predict_url, json={"predictions": [record], "parameters": {"k": 2}})
        assert answer.status_code == 200, answer.text
        (found,) = answer.json()["predictions"]
        assert (found["expert"], found["domain"], found["probability"]) == (expert, domain_name(expert), 0.9)
        assert len(found["hits"]) == 2
        return found["hits"][0]

    assert first_hit("living")["doc_id"] == "wn:bat.n.01"  # the animal
    assert first_hit("artifacts")["doc_id"] == "wn:bat.n.05"  # the club


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"instances": [DOG, 42]}, "instances[1]"),
        ({"predictions": [{"expert": "living", "probability": 0.9}]}, "predictions[0] is an expert's record"),
        ({"instances": [DOG], "parameters": {"k": 1000}}, "k=1000"),
    ],
)
def test_retriever_answers_a_bad_request_with_400_naming_the_field(retriever, body, field: str) -> None:
    answer = httpx.post(retriever.predict_url, json=body, timeout=60)
    assert answer.status_code == 400 and field in answer.json()["error"], answer.text


def test_retriever_refuses_v2_tensors(retriever) -> None:
    tensor = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [DOG]}]}
    answer = httpx.post(f"{retriever.url}/v2/models/retriever/infer", json=tensor, timeout=60)
    assert answer.status_code == 400 and "v1 JSON" in answer.json()["error"]


def test_retriever_without_its_collection_never_gets_ready_and_says_how_to_ingest(pg_server_url) -> None:
    argv = [
        sys.executable,
        str(REPO / "kserve" / "retriever"),
        "--http_port",
        str(free_port()),
        *retriever_args(pg_server_url, "never-ingested"),
    ]
    result = subprocess.run(argv, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "aiprime rag ingest --collection never-ingested" in result.stderr


def test_aiprime_serve_starts_the_rag_servers_only_when_asked(pg_server_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=pg_server_url, _env_file=None)
    rag = launcher.ServeOptions(graph=REPO / launcher.RAG_GRAPH, kserve_dir=REPO / "kserve", router_port=0)
    servers = {s.name: s.argv for s in launcher.plan(replace(rag, rag=True), settings)}
    retriever = list(servers["retriever"])
    assert retriever[1] == str(REPO / "kserve" / "retriever") and "generator" in servers
    assert retriever[retriever.index("--collection") + 1] == settings.rag_collection
    assert "--database_url" in retriever
    top1 = launcher.ServeOptions(kserve_dir=REPO / "kserve", graph=REPO / "kserve/graphs/top1.yaml")
    assert not {"retriever", "generator"} & {s.name for s in launcher.plan(top1, settings)}
    with pytest.raises(ConfigError, match="Add --rag"):
        launcher.plan(rag, settings)  # the RAG graph without its servers


@pytest.mark.slow
def test_rag_graph_answers_from_the_hits_of_the_gates_expert(served, retriever, generator) -> None:
    services = {**served.services, "retriever": retriever.predict_url, "generator": generator.predict_url}
    route = httpx.post(served.services["gate"], json={"instances": [DOG]}, timeout=120).json()["predictions"][
        0
    ]
    with AsgiServer(create_app(load_graph(REPO / "kserve" / "graphs" / "rag.yaml"), services)) as router:
        answer = httpx.post(f"{router.url}/", json={"instances": [DOG]}, timeout=300)
    assert answer.status_code == 200, answer.text
    (record,) = answer.json()["predictions"]
    assert record["question"] == DOG and record["answer"]
    assert (record["expert"], record["domain"]) == (route["expert"], domain_name(route["expert"]))
    routed = {
        "predictions": [{"expert": route["expert"], "instances": [DOG]}]
    }  # what the graph's retriever got
    hits = httpx.post(retriever.predict_url, json=routed, timeout=60).json()["predictions"][0]["hits"]
    hit_ids = [hit["doc_id"] for hit in hits]
    assert "wn:dog.n.01" in hit_ids and [h["doc_id"] for h in record.get("hits", hits)] == hit_ids
    assert set(record["citations"]) <= set(hit_ids)
