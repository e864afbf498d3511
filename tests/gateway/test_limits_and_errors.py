"""Limits and failures, each answered in the one JSON error shape: 400, 404, 413, 429, 502-504."""

from __future__ import annotations

import pytest

PREDICT = {"instances": ["a dog runs"]}


@pytest.fixture(scope="module")
def viewer(gateway, principals) -> str:
    """A viewer's API key on the module's gateway."""
    return principals.service("viewer")[1]


def _assert_error_shape(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == answer.headers["x-request-id"]
    return error


def test_a_body_over_the_limit_is_413_by_its_declared_length(make_gateway, principals) -> None:
    gw = make_gateway(max_body_bytes=2048)
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        answer = client.post("/v1/predict", json={"instances": ["x" * 3000]})
    error = _assert_error_shape(answer, 413, "payload_too_large")
    assert "AIPRIME_GATEWAY_MAX_BODY_BYTES" in error["message"]


def test_a_chunked_body_over_the_limit_is_413_too(make_gateway, principals) -> None:
    gw = make_gateway(max_body_bytes=2048)
    _, key = principals.service("viewer")

    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    with gw.client(key) as client:
        answer = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    _assert_error_shape(answer, 413, "payload_too_large")


def test_a_principal_over_its_rate_gets_429_with_retry_after(make_gateway, principals) -> None:
    gw = make_gateway(rate_per_s=0.5, burst=3)
    _, key = principals.service("viewer")
    _, other = principals.service("viewer")
    with gw.client(key) as client:
        codes = [client.post("/v1/predict", json=PREDICT).status_code for _ in range(4)]
        answer = client.post("/v1/predict", json=PREDICT)
    assert codes == [200, 200, 200, 429]
    _assert_error_shape(answer, 429, "rate_limited")
    assert int(answer.headers["retry-after"]) >= 1
    with gw.client(other) as client:  # buckets are per principal
        assert client.post("/v1/predict", json=PREDICT).status_code == 200


def test_a_slow_upstream_is_504(make_gateway, principals, upstream) -> None:
    gw = make_gateway(upstream_timeout_s=0.3, predict_url=f"{upstream.url}/slow")
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        answer = client.post("/v1/predict", json=PREDICT)
    assert "did not answer within 0.3 s" in _assert_error_shape(answer, 504, "upstream_timeout")["message"]


def test_an_unset_upstream_is_503_naming_the_variable(make_gateway, principals) -> None:
    gw = make_gateway(ask_url=None)
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        answer = client.post("/v1/ask", json={"question": "what is a dog?"})
    assert "AIPRIME_GATEWAY_ASK_URL" in _assert_error_shape(answer, 503, "upstream_unavailable")["message"]


def test_an_unreachable_upstream_is_503(make_gateway, principals) -> None:
    gw = make_gateway(predict_url="http://127.0.0.1:9")
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        answer = client.post("/v1/predict", json=PREDICT)
    assert "cannot be reached" in _assert_error_shape(answer, 503, "upstream_unavailable")["message"]


def test_an_upstream_failure_keeps_its_status_and_cause(make_gateway, principals, upstream) -> None:
    gw = make_gateway(predict_url=f"{upstream.url}/fail")
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        answer = client.post("/v1/predict", json=PREDICT)
    assert "expert-2 is down" in _assert_error_shape(answer, 500, "upstream_error")["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"instances": []}, "body.instances: List should have at least 1 item"),
        ({"instances": ["a"], "extra": 1}, "body.extra: Extra inputs are not permitted"),
        ({}, "body.instances: Field required"),
        ("not json", "JSON decode error"),
    ],
)
def test_an_invalid_body_is_400_naming_the_field(gateway, viewer: str, body, words: str) -> None:
    with gateway.client(viewer) as client:
        if isinstance(body, str):
            answer = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        else:
            answer = client.post("/v1/predict", json=body)
    assert words in _assert_error_shape(answer, 400, "invalid_input")["message"]


def test_an_unknown_route_and_a_wrong_method_are_in_the_same_shape(gateway) -> None:
    with gateway.client() as client:
        _assert_error_shape(client.get("/v1/nothing-here"), 404, "not_found")
        _assert_error_shape(client.get("/v1/predict"), 405, "method_not_allowed")


def test_metrics_are_not_served_through_a_proxy(gateway) -> None:
    with gateway.client() as client:
        assert client.get("/metrics").status_code == 200
        _assert_error_shape(
            client.get("/metrics", headers={"x-forwarded-for": "127.203.0.9"}), 404, "not_found"
        )
