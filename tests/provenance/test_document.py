"""PROV documents of registered model versions and gateway requests, from real MLflow, DVC and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from prov.model import ProvDocument

from aiprime.db.engine import connect
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.errors import AuditChainBroken, NotFound
from aiprime.provenance import document, export
from aiprime.security import audit
from aiprime.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def where(mlflow_url: str, checkout: Path, tmp_path: Path) -> document.Sources:
    settings = Settings(home=tmp_path / "home", _env_file=None)
    return document.Sources(mlflow_url, checkout, (checkout / ".dvc" / "cache",), settings)


def records(lineage: document.Lineage, kind: str) -> dict[str, dict]:
    """The records of one PROV kind (`entity`, `activity`) of the PROV-JSON, keyed by id."""
    return json.loads(export.serialize(lineage.document, "prov-json")).get(kind, {})


def relations(lineage: document.Lineage, kind: str) -> list[dict]:
    """The relations of one PROV kind (`used`, `wasDerivedFrom`, ...) of the PROV-JSON (PROV-JSON lists the
    records that share a generated id)."""
    found = records(lineage, kind).values()
    return [r for value in found for r in (value if isinstance(value, list) else [value])]


def test_a_trained_version_resolves_to_hashed_source_files(where, register, trained_tags) -> None:
    version = register("aiprime-gate", trained_tags)

    lineage = document.model_lineage(where, "aiprime-gate", version)

    assert lineage.missing == []
    entities, activities = records(lineage, "entity"), records(lineage, "activity")
    model = entities[f"aiprime:model/aiprime-gate/{version}"]
    assert model["aiprime:role"] == "gate"
    run = next(
        a
        for key, a in activities.items()
        if key.startswith("aiprime:mlflow-run/") and "aiprime:kfpRunId" in a
    )
    assert run["aiprime:kfpRunId"] == "kfp-run-1234"
    data = entities[f"aiprime:dvc/{trained_tags['data_version']}"]
    assert data["aiprime:path"] == "data/splits/classification.parquet"
    assert {f"aiprime:dvc-stage/{s}" for s in ("raw", "processed", "splits")} <= activities.keys()
    assert f"aiprime:git/{trained_tags['code_version']}" in entities
    files = {k: e for k, e in entities.items() if k.startswith("aiprime:file/raw/")}
    assert {e["aiprime:path"].split("/")[2] for e in files.values()} == {"wordnet", "foldoc", "pydocs"}
    assert all(len(e["aiprime:md5"]) == 32 for e in files.values())
    packages = {r["prov:usedEntity"] for r in relations(lineage, "wasDerivedFrom")}
    assert {
        "aiprime:debian/wordnet-base",
        "aiprime:debian/dict-foldoc",
        "aiprime:debian/python3.11-doc",
    } <= packages


def test_prov_json_round_trips_without_loss(where, register, trained_tags) -> None:
    lineage = document.model_lineage(where, "aiprime-gate", register("aiprime-gate", trained_tags))

    text = export.serialize(lineage.document, "prov-json")

    assert export.from_prov_json(text) == lineage.document
    assert len(lineage.document.get_records()) > 20


@pytest.mark.parametrize("fmt", ["provn", "ttl"])
def test_other_formats_name_the_model(where, register, trained_tags, fmt: str) -> None:
    version = register("aiprime-gate", trained_tags)
    text = export.serialize(document.model_lineage(where, "aiprime-gate", version).document, fmt)
    assert f"model/aiprime-gate/{version}" in text


def test_a_version_without_lineage_tags_names_each_missing_link(where, register) -> None:
    version = register("aiprime-expert-test", {"source": "aiprime.serving.smoke"})

    lineage = document.model_lineage(where, "aiprime-expert-test", version)

    links = [m.link for m in lineage.missing]
    label = f"aiprime-expert-test v{version}"
    assert links == [f"{label} -> KFP run", f"{label} -> training data version", f"{label} -> code version"]


def test_a_version_trained_by_a_dagster_run_names_that_run_instead_of_a_kfp_one(
    where, register, trained_tags
) -> None:
    tags = {k: v for k, v in trained_tags.items() if k != "pipeline_run_id"} | {"dagster_run_id": "dg-run-1"}

    lineage = document.model_lineage(where, "aiprime-reranker", register("aiprime-reranker", tags))

    assert not [m.link for m in lineage.missing if "run" in m.link]
    assert "dg-run-1" in export.serialize(lineage.document, "provn")


def test_a_data_version_no_longer_in_dvc_lock_is_missing_not_guessed(where, register, trained_tags) -> None:
    tags = trained_tags | {"data_version": "0" * 32, "code_version": "abc1234-dirty"}

    lineage = document.model_lineage(where, "aiprime-gate", register("aiprime-gate", tags))

    reasons = {m.link: m.reason for m in lineage.missing}
    assert "no longer records md5 " + "0" * 32 in reasons[f"dataset {'0' * 32} -> DVC stage"]
    assert "uncommitted changes" in reasons["code version abc1234-dirty"]
    assert not any(k.startswith("aiprime:dvc-stage/") for k in records(lineage, "activity"))


def test_files_without_a_dvc_manifest_are_missing(where, register, trained_tags, tmp_path: Path) -> None:
    bare = document.Sources(where.tracking_uri, where.root, (tmp_path / "no-cache",), where.settings)

    lineage = document.model_lineage(bare, "aiprime-gate", register("aiprime-gate", trained_tags))

    assert [m.link for m in lineage.missing] == ["data/raw -> files"]


def test_an_unknown_version_is_a_clear_error(where) -> None:
    with pytest.raises(NotFound, match="no version 999 of aiprime-gate"):
        document.model_lineage(where, "aiprime-gate", "999")


def test_a_request_names_its_user_and_what_is_not_recorded(where, app_db_url: str) -> None:
    engine = connect(app_db_url)
    entry = audit.AuditEntry("alice", "POST /v1/predict", "predict", "allow", 200, "req-lineage-1")
    with engine.begin() as conn:
        audit.append(conn, [entry])

    lineage = document.request_lineage(where, engine, "req-lineage-1")

    associations = list(relations(lineage, "wasAssociatedWith"))
    assert [(a["prov:activity"], a["prov:agent"]) for a in associations] == [
        ("aiprime:request/req-lineage-1", "aiprime:user/alice")
    ]
    assert associations[0]["aiprime:status"] == {"$": "200", "type": "xsd:int"}
    assert [m.link for m in lineage.missing] == [
        "answer of req-lineage-1 -> gate decision",
        "answer of req-lineage-1 -> expert versions",
        "answer of req-lineage-1 -> retrieved chunks",
    ]
    assert ProvDocument.deserialize(
        content=export.serialize(lineage.document, "prov-json"), format="json"
    ) == (lineage.document)


def test_an_unknown_request_id_is_a_clear_error(where, app_db_url: str) -> None:
    with pytest.raises(
        NotFound, match="No request 'nope' in the gateway's audit log or the gate's request log"
    ):
        document.request_lineage(where, connect(app_db_url), "nope")


def test_a_tampered_audit_row_is_refused_with_a_clear_message(where, app_db_url: str) -> None:
    engine = connect(app_db_url)
    with engine.begin() as conn:
        seq = audit.append(
            conn, [audit.AuditEntry("bob", "POST /v1/predict", "predict", "allow", 200, "req-tampered")]
        )
    with engine.begin() as conn:  # as a superuser who switches the append-only triggers off
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text("UPDATE gateway.audit_log SET actor = 'mallory' WHERE seq = :s"), {"s": seq})

    with pytest.raises(
        AuditChainBroken, match=f"Audit row {seq} of request 'req-tampered' does not match its hash"
    ):
        document.request_lineage(where, engine, "req-tampered")


def test_a_logged_request_resolves_through_the_gate_version_to_source_files(
    where, app_db_url: str, register, trained_tags
) -> None:
    engine = connect(app_db_url)
    version = register("aiprime-gate", trained_tags)
    with engine.begin() as conn:
        audit.append(
            conn, [audit.AuditEntry("carol", "POST /v1/predict", "predict", "allow", 200, "req-gate-1")]
        )
    served = f"aiprime-gate@{version}"
    vector = np.zeros(384, dtype=np.float32)
    log_requests(engine, [LoggedRequest("gate", vector, "nature", 0.9, None, "req-gate-1", served)] * 2)
    log_requests(engine, [LoggedRequest("gate", vector, "nature", 0.9, None, "another-request", served)])

    lineage = document.request_lineage(where, engine, "req-gate-1")

    assert [m.link for m in lineage.missing] == [
        "answer of req-gate-1 -> expert versions",
        "answer of req-gate-1 -> retrieved chunks",
    ]
    decisions = {k: e for k, e in records(lineage, "entity").items() if k.startswith("aiprime:decision/")}
    assert len(decisions) == 2 and {e["aiprime:expert"] for e in decisions.values()} == {"nature"}
    model = f"aiprime:model/aiprime-gate/{version}"
    used = {(u["prov:activity"], u["prov:entity"]) for u in relations(lineage, "used")}
    assert ("aiprime:request/req-gate-1", model) in used
    derived = {
        (d["prov:generatedEntity"], d["prov:usedEntity"]) for d in relations(lineage, "wasDerivedFrom")
    }
    assert {(k, model) for k in decisions} <= derived
    paths = [e.get("aiprime:path", "") for e in relations(lineage, "entity")]
    assert any(p.startswith("data/raw/wordnet/") for p in paths)


def test_a_request_that_bypassed_the_gateway_resolves_through_the_gate_and_lacks_only_its_user(
    where, app_db_url: str, register, trained_tags
) -> None:
    engine = connect(app_db_url)
    served = f"aiprime-gate@{register('aiprime-gate', trained_tags)}"
    vector = np.zeros(384, dtype=np.float32)
    log_requests(engine, [LoggedRequest("gate", vector, "nature", 0.9, None, "req-sample-1", served)])

    lineage = document.request_lineage(where, engine, "req-sample-1")

    assert [m.link for m in lineage.missing] == [
        "request req-sample-1 -> user",
        "answer of req-sample-1 -> expert versions",
        "answer of req-sample-1 -> retrieved chunks",
    ]
    associated = [a["prov:activity"] for a in relations(lineage, "wasAssociatedWith")]
    assert "aiprime:request/req-sample-1" not in associated  # no user is made up
    paths = [e.get("aiprime:path", "") for e in relations(lineage, "entity")]
    assert any(p.startswith("data/raw/wordnet/") for p in paths)


def test_a_served_version_deleted_from_mlflow_is_a_missing_link(where, app_db_url: str) -> None:
    engine = connect(app_db_url)
    with engine.begin() as conn:
        audit.append(conn, [audit.AuditEntry("dan", "POST /v1/predict", "predict", "allow", 200, "req-gone")])
    vector = np.zeros(384, dtype=np.float32)
    log_requests(engine, [LoggedRequest("gate", vector, "nature", 0.9, None, "req-gone", "aiprime-gate@999")])

    lineage = document.request_lineage(where, engine, "req-gone")

    reasons = {m.link: m.reason for m in lineage.missing}
    assert (
        "no version 999 of aiprime-gate"
        in reasons[f"decision {_first_decision(lineage)} of req-gone -> model version"]
    )


def _first_decision(lineage: document.Lineage) -> str:
    return next(k for k in records(lineage, "entity") if k.startswith("aiprime:decision/")).rsplit("/", 1)[1]
