"""`aiprime run`'s sample answers go through the gateway as the run's service account, so their lineage resolves:
the `first_answer` asset starts the real RAG stack with its gateway (tiny gate and experts registered in a real
MLflow with the training pipeline's lineage tags, the real retriever over a collection ingested from a DVC
checkout's documents, the real generator) and asks; the audit row names the account, the versions and the
chunks, and `aiprime lineage` of the answer has no missing link."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from aiprime.db.engine import connect
from aiprime.orchestration.resources import Workspace
from aiprime.orchestration.serving_assets import first_answer
from aiprime.provenance import document, facts
from aiprime.rag.corpus import data_version, load_corpus
from aiprime.rag.embed import make_embedder
from aiprime.rag.ingest import ingest
from aiprime.registry import mlflow_registry as registry
from aiprime.security import audit
from aiprime.serving import launcher, smoke
from aiprime.serving.names import domain_of, registered_model_name
from aiprime.settings import Settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RUN_ACCOUNT = "aiprime-run"
WAIT_S = 60  # for the gateway's audit writer and the gate's request log, which write in the background


@pytest.fixture(scope="module")
def champions(fresh_mlflow_url: str, trained_tags: dict[str, str], embedding_cache: Path, tmp_path_factory):
    """The gate and six experts, trained on real glosses and registered as `champion` with the tags the
    training pipeline writes (data version of the checkout, code version, KFP run)."""
    out = tmp_path_factory.mktemp("sample-models")
    table = smoke.classification_table(REPO / smoke.SPLIT_FILE)
    folders = smoke.train_tiny(smoke.sample_glosses(table, per_domain=16), out, embedding_cache, steps=30)
    client = MlflowClient(fresh_mlflow_url)
    experiment = client.create_experiment("moe-training")
    for name, folder in folders.items():
        role = "gate" if name == "gate" else "expert"
        registered = registered_model_name(role, None if role == "gate" else domain_of(name))
        run = client.create_run(experiment, run_name=name).info.run_id
        version = registry.register(fresh_mlflow_url, registered, folder, run, trained_tags | {"role": role})
        client.set_registered_model_alias(registered, registry.CHAMPION, version)
        client.set_terminated(run)
    return folders


@pytest.fixture(scope="module")
def collection(app_db_url: str, checkout: Path, embedding_cache: Path) -> str:
    """The checkout's documents in a collection of their own, tagged with their DVC md5 as `aiprime rag
    ingest` tags them."""
    splits = checkout / "data" / "splits"
    embedder = make_embedder(Settings(home=embedding_cache.parent, _env_file=None))
    engine = connect(app_db_url)
    ingest(
        engine, load_corpus(splits), embedder, collection="sample-lineage", data_version=data_version(splits)
    )
    engine.dispose()
    return "sample-lineage"


@pytest.fixture
def served_home(
    pg_server_url: str, fresh_mlflow_url: str, collection: str, champions, monkeypatch, tmp_path: Path
) -> Iterator[Settings]:
    """Settings of a home whose stack the test starts through the asset; the stack is stopped afterwards."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(home=tmp_path / "home", database_url=pg_server_url, mlflow_tracking_uri=fresh_mlflow_url,
                        rag_collection=collection, _env_file=None)  # fmt: skip
    try:
        yield settings
    finally:
        launcher.stop(settings)


def test_the_first_answer_is_audited_as_the_run_and_its_lineage_resolves(
    served_home: Settings, app_db_url: str, checkout: Path, fresh_mlflow_url: str
) -> None:
    result = dg.materialize([first_answer], resources={"workspace": Workspace(REPO, served_home)})

    assert result.success
    (materialization,) = result.asset_materializations_for_node("first_answer")
    answer = materialization.metadata["answer"].value
    engine = connect(app_db_url)
    rows = _eventually(lambda: facts.audit_rows(engine, answer["request_id"]))
    assert [(r.entry.actor, r.entry.action, r.entry.status) for r in rows] == [
        (RUN_ACCOUNT, "POST /v1/ask", 200)
    ]
    detail = rows[0].entry.detail
    expert = registered_model_name("expert", domain_of(f"expert-{answer['answered_by'][0]}"))
    assert [v.split("@")[0] for v in detail["model_versions"]] == ["aiprime-gate", expert]
    assert len(detail["chunk_ids"]) >= 1
    # the gate logs the graph's call (the router forwards X-Request-Id) and the summary's route call under it
    decisions = _eventually(
        lambda: d if len(d := facts.gate_decisions(engine, answer["request_id"])) > 1 else []
    )
    assert [d.server for d in decisions] == ["gate", "gate"]
    where = document.Sources(fresh_mlflow_url, checkout, (checkout / ".dvc" / "cache",), served_home)

    lineage = document.request_lineage(where, engine, answer["request_id"])

    assert lineage.missing == []
    ids = {str(record.identifier) for record in lineage.document.get_records()}
    assert f"aiprime:user/{RUN_ACCOUNT}" in ids
    assert {f"aiprime:chunk/{c}" for c in detail["chunk_ids"]} <= ids
    assert any(i.startswith("aiprime:file/raw/") for i in ids)  # the hashed source files
    with engine.connect() as conn:
        kinds = conn.execute(
            sa.text("SELECT kind FROM gateway.principals WHERE name = :n"), {"n": RUN_ACCOUNT}
        ).scalars()
        assert list(kinds) == ["service"]


def _eventually(read, wait_s: float = WAIT_S):
    """What `read()` returns once it is not empty, reading again until `wait_s` passed (background writers)."""
    deadline = time.monotonic() + wait_s
    while not (found := read()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_an_audit_row_naming_versions_and_chunks_resolves_them_and_a_lost_chunk_is_missing(
    app_db_url: str, checkout: Path, collection: str, register, trained_tags, mlflow_url: str, tmp_path: Path
) -> None:
    engine = connect(app_db_url)
    gate, expert = (f"{n}@{register(n, trained_tags)}" for n in ("aiprime-gate", "aiprime-expert-living"))
    with engine.connect() as conn:
        chunk = conn.execute(sa.text("SELECT c.id FROM rag_chunks c JOIN rag_collections k ON k.id = "
                                     "c.collection_id WHERE k.name = :n LIMIT 1"), {"n": collection}).scalar_one()  # fmt: skip
    detail = {"model_versions": [gate, expert], "chunk_ids": [chunk, 10**12]}
    with engine.begin() as conn:
        audit.append(
            conn, [audit.AuditEntry("erin", "POST /v1/ask", "ask", "allow", 200, "req-named", None, detail)]
        )
    settings = Settings(home=tmp_path / "home", _env_file=None)
    where = document.Sources(mlflow_url, checkout, (checkout / ".dvc" / "cache",), settings)

    lineage = document.request_lineage(where, engine, "req-named")

    assert [m.link for m in lineage.missing] == [
        "answer of req-named -> gate decision",
        f"chunk {10**12} of req-named",
    ]
    derived = {
        (str(r.args[0]), str(r.args[1]))
        for r in lineage.document.get_records()
        if r.get_type().localpart == "Derivation"
    }
    answer = "aiprime:answer/req-named"
    for name, version in (v.split("@") for v in (gate, expert)):
        assert (answer, f"aiprime:model/{name}/{version}") in derived
    assert (answer, f"aiprime:chunk/{chunk}") in derived
    assert any(
        used.startswith("aiprime:dvc/") for child, used in derived if child.startswith("aiprime:document/")
    )
