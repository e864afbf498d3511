"""The gateway against a careful outsider: headers, bodies, encodings, nesting, forwarded headers, floods of
unknown paths, and what each does (or must not do) to the audit log."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from _helpers import raw_request

from aiprime.security import audit

PREDICT = {"instances": ["a dog runs"]}


def _rows(engine: sa.Engine, request_id: str) -> list[audit.AuditRow]:
    with engine.connect() as conn:
        return audit.read(conn, request_id=request_id)


def _nested(depth: int) -> dict:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return {"instances": [value]}


def test_a_nul_in_the_path_is_400_stored_escaped_and_the_audit_log_goes_on(gateway, principals) -> None:
    _, key = principals.service("viewer")
    with gateway.client() as client:
        poison = client.get("/x%00y")
    with gateway.client(key) as client:
        after = client.post("/v1/predict", json=PREDICT)
    assert poison.status_code == 400, poison.text
    assert "NUL" in poison.json()["error"]["message"]
    assert after.status_code == 200
    gateway.flush_audit()
    engine = gateway.app.state.runtime.engine
    [row] = _rows(engine, poison.headers["x-request-id"])
    assert row.entry.detail["path"] == "/x\\x00y"
    assert [r.entry.status for r in _rows(engine, after.headers["x-request-id"])] == [200]


def test_a_nul_in_a_query_parameter_or_a_form_field_is_400_naming_it(gateway, principals) -> None:
    _, auditor = principals.service("auditor")
    with gateway.client(auditor) as client:
        query = client.get("/v1/audit", params={"actor": "bob\x00"})
    with gateway.client() as client:
        form = client.post(
            "/oauth/token", data={"grant_type": "password", "username": "a\x00b", "password": "x"}
        )
        schema = client.get("/openapi.json").json()
    assert query.status_code == 400, query.text
    assert "'actor'" in query.json()["error"]["message"]
    assert form.status_code == 400, form.text
    assert form.json()["error"] == "invalid_request"  # RFC 6749's shape, as the endpoint documents
    assert "'username'" in form.json()["error_description"]
    [actor] = [p for p in schema["paths"]["/v1/audit"]["get"]["parameters"] if p["name"] == "actor"]
    assert actor["schema"]["anyOf"][0]["pattern"] == "^[^\\u0000]*$"  # the schema says so


def test_a_nul_in_a_json_string_is_forwarded_not_refused(gateway, principals, upstream) -> None:
    _, key = principals.service("viewer")
    with gateway.client(key) as client:
        answer = client.post("/v1/predict", json={"instances": ["a\x00b"]})
    assert answer.status_code == 200, answer.text
    assert upstream.last()["body"] == {"instances": ["a\x00b"]}


@pytest.mark.parametrize("depth", [40, 255, 5000])
def test_deeply_nested_instances_are_400_naming_the_limit(gateway, principals, depth: int) -> None:
    _, key = principals.service("viewer")
    with gateway.client(key) as client:
        answer = client.post("/v1/predict", content=json.dumps(_nested(depth)) if depth < 900 else (
            '{"instances": [' + "[" * depth + "]" * depth + "]}"
        ), headers={"content-type": "application/json"})  # fmt: skip
        shallow = client.post("/v1/predict", json=_nested(5))
    assert answer.status_code == 400, answer.text
    assert "AIPRIME_GATEWAY_MAX_JSON_DEPTH" in answer.json()["error"]["message"]
    assert shallow.status_code == 200, shallow.text


def test_oversized_headers_are_431_and_the_gateway_serves_on(gateway, principals) -> None:
    _, key = principals.service("viewer")
    huge = b"GET /livez HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * (4 << 20) + b"\r\n\r\n"
    answer = raw_request(gateway.url, huge)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"AIPRIME_GATEWAY_MAX_HEADER_BYTES" in answer
    many = {f"x-h{i}": "v" * 100 for i in range(200)}  # 20 KB in small headers
    with gateway.client(key) as client:
        assert client.get("/livez", headers=many).status_code == 431
        assert client.post("/v1/predict", json=PREDICT).status_code == 200


def test_a_flood_of_unknown_paths_is_rate_limited_per_address(make_gateway) -> None:
    gw = make_gateway(rate_per_s=0.01, burst=3)  # no token comes back during the test
    with gw.client() as client:
        answers = [client.get(f"/junk/{i}") for i in range(5)]
        forged = [
            client.get("/junk", headers={"x-forwarded-for": f"127.51.100.{i}"}).status_code for i in range(3)
        ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429, 429]
    assert forged == [429, 429, 429]  # a forged X-Forwarded-For is not another address
    gw.flush_audit()
    engine = gw.app.state.runtime.engine
    stored = [len(_rows(engine, a.headers["x-request-id"])) for a in answers]
    assert stored == [1, 1, 1, 0, 0]  # the flood's refusals are counted in the metrics, not audited


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(make_gateway) -> None:
    untrusted = make_gateway()
    trusted = make_gateway(trusted_proxies="127.10.0.0/16, 127.0.0.1")
    forwarded = {
        "x-forwarded-for": "127.203.0.7, 127.10.2.3"
    }  # client, then an inner proxy (header text only)
    with untrusted.client() as client:
        plain = client.get("/nowhere", headers=forwarded)
    with trusted.client() as client:
        proxied = client.get("/nowhere", headers=forwarded)
    untrusted.flush_audit()
    trusted.flush_audit()
    engine = untrusted.app.state.runtime.engine
    assert _rows(engine, plain.headers["x-request-id"])[0].entry.detail["client"] == "127.0.0.1"
    assert _rows(engine, proxied.headers["x-request-id"])[0].entry.detail["client"] == "127.203.0.7"


def test_anonymous_traffic_cannot_fill_the_audit_backlog(make_gateway, principals) -> None:
    gw = make_gateway(audit_backlog=6, audit_anonymous_share=2, rate_per_s=1000, burst=1000)
    writer = gw.app.state.runtime.audit
    good_engine, writer.retry_s = writer.engine, 0.2
    writer.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # PostgreSQL "down"
    _, key = principals.service("viewer")
    with gw.client() as anonymous:
        junk = [anonymous.get(f"/junk/{i}").status_code for i in range(20)]
    with gw.client(key) as client:
        served = [client.post("/v1/predict", json=PREDICT).status_code for _ in range(3)]
        assert client.get("/healthz").status_code == 200
    assert junk[:2] == [404, 404] and set(junk[2:]) == {503}
    assert served == [200, 200, 200]
    assert writer.backlog == 5  # two anonymous entries and three authenticated: the refusals are not queued
    writer.engine = good_engine
    gw.flush_audit()
    assert writer.backlog == 0


def test_postgresql_down_is_503_with_retry_after_and_every_answer_is_audited_after(
    make_gateway, principals
) -> None:
    from aiprime.db import embedded
    from aiprime.db.engine import ensure_databases, migrate
    from aiprime.db.urls import database_url

    folder = Path(tempfile.mkdtemp(prefix="aiprime-test-pg-"))  # outside pytest's 0700 tree (see conftest)
    pg_dir = folder / "pg"
    server_url = embedded.start_embedded(pg_dir)
    try:
        ensure_databases(server_url)
        db_url = database_url(server_url, "aiprime")
        migrate(db_url)
        _run_through_an_outage(make_gateway, type(principals)(db_url), db_url, pg_dir)
    finally:
        embedded.stop_embedded(pg_dir)
        shutil.rmtree(folder, ignore_errors=True)


def _run_through_an_outage(make_gateway, principals, db_url: str, pg_dir) -> None:
    from aiprime.db import embedded

    _, key = principals.service("viewer")
    gw = make_gateway(db_url=db_url, identity_cache_s=0)
    gw.app.state.runtime.audit.retry_s = 0.2
    with gw.client(key) as client:
        before = client.post("/v1/predict", json=PREDICT)
        embedded.stop_embedded(pg_dir)
        down = client.post("/v1/predict", json=PREDICT)
        embedded.start_embedded(pg_dir)
        deadline = time.monotonic() + 30
        while (after := client.post("/v1/predict", json=PREDICT)).status_code != 200:
            assert time.monotonic() < deadline, after.text
            time.sleep(0.2)
    assert before.status_code == 200
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "database_unavailable"
    assert int(down.headers["retry-after"]) >= 1
    gw.flush_audit()
    engine = gw.app.state.runtime.engine
    for answer in (before, down, after):
        assert [r.entry.status for r in _rows(engine, answer.headers["x-request-id"])] == [answer.status_code]
