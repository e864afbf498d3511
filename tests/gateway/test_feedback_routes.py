"""POST /v1/feedback on a real gateway and PostgreSQL: stored once per request and principal, audited, refused
with a clear 4xx for an unknown request, a label that is not a class, a duplicate, or a role without it."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from aiprime.db.engine import connect
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.security import audit


@pytest.fixture
def logged(app_db_url: str) -> str:
    """The request id of a request the gate logged (two instances: two rows of one request)."""
    request_id = f"req-{uuid.uuid4().hex}"
    embedding = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    engine = connect(app_db_url)
    log_requests(engine, [LoggedRequest("gate", embedding, "living", 0.9, request_id=request_id)] * 2)
    engine.dispose()
    return request_id


def _stored(gateway, request_id: str) -> list[tuple[str, str]]:
    with gateway.app.state.runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT principal, label FROM feedback WHERE request_id = :r ORDER BY id"),
            {"r": request_id},
        )
        return [tuple(r) for r in rows]


def test_an_operator_labels_a_logged_request_and_the_call_is_audited(gateway, principals, logged) -> None:
    name, key = principals.service("operator")
    with gateway.client(key) as client:
        answer = client.post("/v1/feedback", json={"request_id": logged, "label": "noun.animal"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["request_id"], body["principal"], body["label"], body["domain"]) == (
        logged,
        name,
        "noun.animal",
        "living",
    )
    assert _stored(gateway, logged) == [(name, "noun.animal")]
    gateway.flush_audit()
    with gateway.app.state.runtime.engine.connect() as conn:
        [row] = audit.read(conn, request_id=answer.headers["x-request-id"])
    entry = row.entry
    assert (entry.actor, entry.action, entry.resource, entry.decision, entry.status) == (
        name,
        "POST /v1/feedback",
        "feedback",
        "allow",
        201,
    )


def test_a_second_label_from_the_same_principal_is_409_and_not_stored(gateway, principals, logged) -> None:
    first, first_key = principals.service("operator")
    second, second_key = principals.service("deployer")
    with gateway.client(first_key) as client:
        assert (
            client.post("/v1/feedback", json={"request_id": logged, "label": "noun.animal"}).status_code
            == 201
        )
        again = client.post("/v1/feedback", json={"request_id": logged, "label": "noun.plant"})
    with gateway.client(second_key) as client:
        other = client.post("/v1/feedback", json={"request_id": logged, "label": "noun.plant"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_feedback"
    assert first in again.json()["error"]["message"] and logged in again.json()["error"]["message"]
    assert other.status_code == 201, "another principal may label the same request"
    assert _stored(gateway, logged) == [(first, "noun.animal"), (second, "noun.plant")]


def test_an_unknown_request_id_is_404_naming_the_field(gateway, principals) -> None:
    _, key = principals.service("operator")
    unknown = f"never-{uuid.uuid4().hex}"
    with gateway.client(key) as client:
        answer = client.post("/v1/feedback", json={"request_id": unknown, "label": "noun.animal"})
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith("request_id:") and unknown in answer.text
    assert _stored(gateway, unknown) == []


def test_a_label_that_is_not_a_class_is_422_listing_the_valid_ones(gateway, principals, logged) -> None:
    _, key = principals.service("operator")
    with gateway.client(key) as client:
        answer = client.post("/v1/feedback", json={"request_id": logged, "label": "living"})
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert message.startswith("label: 'living' is not a class")
    assert "noun.animal" in message and "verb.motion" in message and "adj.all" in message
    assert _stored(gateway, logged) == []


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("auditor", 403), ("admin", 201), ("", 403)])
def test_only_roles_holding_feedback_may_label(gateway, principals, logged, role: str, status: int) -> None:
    _, key = principals.service(*([role] if role else []))
    with gateway.client(key) as client:
        answer = client.post("/v1/feedback", json={"request_id": logged, "label": "noun.animal"})
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "feedback" in answer.json()["error"]["message"]


def test_a_label_needs_a_credential_and_a_well_formed_body(gateway, principals, logged) -> None:
    with gateway.client() as client:
        anonymous = client.post("/v1/feedback", json={"request_id": logged, "label": "noun.animal"})
    _, key = principals.service("operator")
    with gateway.client(key) as client:
        extra = client.post("/v1/feedback", json={"request_id": logged, "label": "noun.animal", "x": 1})
        missing = client.post("/v1/feedback", json={"label": "noun.animal"})
    assert anonymous.status_code == 401
    assert extra.status_code == 400 and missing.status_code == 400 and "request_id" in missing.text
    assert _stored(gateway, logged) == []
