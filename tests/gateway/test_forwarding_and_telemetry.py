"""Forwarding with trace context and request id; spans, RED metrics, JSON logs, and the audit trail."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from aiprime.observability.logs import JsonFormatter
from aiprime.security import audit

PREDICT = {"instances": ["a dog runs"], "parameters": {"top_k": 2}}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def traced(make_gateway):
    """A gateway whose spans land in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return make_gateway(tracer_provider=provider), exporter


def test_the_request_reaches_the_upstream_with_trace_context_and_request_id(
    traced, principals, upstream
) -> None:
    gw, exporter = traced
    name, key = principals.service("viewer")
    with gw.client(key) as client:
        answer = client.post(
            "/v1/predict", json=PREDICT, headers={"traceparent": TRACEPARENT, "x-request-id": "req-abc.1"}
        )
    assert answer.status_code == 200 and answer.json()["predictions"] == ["ok"]
    seen = upstream.last()
    assert seen["body"] == PREDICT
    assert seen["headers"]["x-request-id"] == "req-abc.1" == answer.headers["x-request-id"]
    assert seen["headers"]["x-aiprime-principal"] == name
    assert "authorization" not in seen["headers"]  # the caller's credential stays at the gateway
    version, trace_id, parent, _ = seen["headers"]["traceparent"].split("-")
    assert (version, trace_id) == ("00", TRACE_ID) and answer.headers["x-trace-id"] == TRACE_ID
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server, client_span = spans["POST /v1/predict"], spans["POST predict"]
    assert format(client_span.context.span_id, "016x") == parent
    assert client_span.parent.span_id == server.context.span_id
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert (
        server.attributes["http.route"] == "/v1/predict"
        and server.attributes["http.response.status_code"] == 200
    )


def test_a_bad_request_id_is_replaced_by_a_fresh_one(gateway, principals, upstream) -> None:
    _, key = principals.service("viewer")
    with gateway.client(key) as client:
        answer = client.post("/v1/predict", json=PREDICT, headers={"x-request-id": "bad id\twith spaces"})
    assert (
        len(answer.headers["x-request-id"]) == 32 and answer.headers["x-request-id"] != "bad id\twith spaces"
    )
    assert upstream.last()["headers"]["x-request-id"] == answer.headers["x-request-id"]


def _samples(gateway) -> dict[tuple[str, frozenset], float]:
    with gateway.client() as client:
        text = client.get("/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_red_metrics_count_requests_errors_and_durations_per_route(make_gateway, principals) -> None:
    gw = make_gateway(predict_url="http://127.0.0.1:9")  # every predict fails with 503
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        for _ in range(3):
            client.post("/v1/predict", json=PREDICT)
        client.post("/v1/predict", json={"instances": []})
    with gw.client() as client:
        client.post("/v1/predict", json=PREDICT)
    samples = _samples(gw)
    route = {("route", "/v1/predict"), ("method", "POST")}
    assert samples[("aiprime_gateway_requests_total", frozenset(route | {("code", "503")}))] == 3
    assert samples[("aiprime_gateway_requests_total", frozenset(route | {("code", "400")}))] == 1
    assert samples[("aiprime_gateway_requests_total", frozenset(route | {("code", "401")}))] == 1
    assert samples[("aiprime_gateway_request_errors_total", frozenset(route | {("code", "503")}))] == 3
    assert samples[("aiprime_gateway_request_duration_seconds_count", frozenset(route))] == 5
    assert samples[("aiprime_gateway_auth_failures_total", frozenset({("reason", "missing")}))] == 1
    assert (
        samples[
            (
                "aiprime_gateway_upstream_duration_seconds_count",
                frozenset({("upstream", "predict"), ("outcome", "error")}),
            )
        ]
        == 3
    )


def test_every_request_is_logged_as_json_with_its_ids(gateway, principals) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("aiprime.gateway.access")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        name, key = principals.service("viewer")
        with gateway.client(key) as client:
            answer = client.post("/v1/predict", json=PREDICT, headers={"traceparent": TRACEPARENT})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == answer.headers["x-request-id"] and line["trace_id"] == TRACE_ID
    assert (line["route"], line["status"], line["principal"], line["decision"]) == (
        "/v1/predict",
        200,
        name,
        "allow",
    )


def test_every_request_and_admin_action_lands_in_the_audit_log(gateway, principals, app_db_url) -> None:
    admin_name, admin_key = principals.service("admin")
    target = f"audited-{uuid.uuid4().hex[:8]}"
    with gateway.client(admin_key) as client:
        ids = [
            client.post("/v1/admin/users", json={"name": target, "kind": "service"}).headers["x-request-id"],
            client.post(f"/v1/admin/users/{target}/roles", json={"role": "deployer"}).headers["x-request-id"],
        ]
        refused = client.post(f"/v1/admin/users/{target}/roles", json={"role": "auditor"})
        ids.append(refused.headers["x-request-id"])
    with gateway.client() as client:
        ids.append(client.post("/v1/predict", json=PREDICT).headers["x-request-id"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "separation_of_duty"
    gateway.flush_audit()
    with gateway.app.state.runtime.engine.connect() as conn:
        rows = [r for i in ids for r in audit.read(conn, request_id=i)]
    summary = [(r.entry.actor, r.entry.action, r.entry.decision, r.entry.status) for r in rows]
    assert summary == [
        (admin_name, "principals.add", "allow", None),
        (admin_name, "POST /v1/admin/users", "allow", 201),
        (admin_name, "roles.grant", "allow", None),
        (admin_name, "POST /v1/admin/users/{name}/roles", "allow", 200),
        (admin_name, "roles.grant", "deny", None),
        (admin_name, "POST /v1/admin/users/{name}/roles", "allow", 409),
        ("anonymous", "POST /v1/predict", "deny", 401),
    ]
    assert all(r.entry.trace_id and len(r.entry.trace_id) == 32 for r in rows)
    assert audit.verify(gateway.app.state.runtime.engine).ok


def test_an_auditor_reads_and_verifies_the_log_and_an_admin_cannot(gateway, principals) -> None:
    _, auditor = principals.service("auditor")
    _, admin = principals.service("admin")
    gateway.flush_audit()
    with gateway.client(auditor) as client:
        page = client.get("/v1/audit", params={"limit": 5})
        report = client.get("/v1/audit/verify")
    assert page.status_code == 200 and len(page.json()["entries"]) == 5
    assert page.json()["next_after"] == page.json()["entries"][-1]["seq"]
    assert report.status_code == 200 and report.json()["ok"] is True, report.text
    with gateway.client(admin) as client:
        assert client.get("/v1/audit").status_code == 403


def test_ask_reaches_the_rag_graph_as_the_kserve_request_its_gate_reads(
    gateway, principals, upstream
) -> None:
    """The RAG graph's first step is the gate: it reads `instances`, and the retriever `parameters.k`."""
    _, key = principals.service("viewer")
    with gateway.client(key) as client:
        answer = client.post("/v1/ask", json={"question": "what is a dog?", "top_k": 3})
    assert answer.status_code == 200, answer.text
    assert upstream.last()["body"] == {"instances": ["what is a dog?"], "parameters": {"k": 3}}
