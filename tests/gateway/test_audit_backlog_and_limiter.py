"""Fail closed: while the audit log cannot be written, the gateway refuses requests and loses no entry.
And the token bucket's arithmetic, on a fake clock."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from aiprime.errors import RateLimited
from aiprime.gateway.ratelimit import RateLimiter
from aiprime.security import audit

PREDICT = {"instances": ["a dog runs"]}


def test_requests_are_refused_while_the_audit_log_is_down_and_none_is_lost(make_gateway, principals) -> None:
    gw = make_gateway(audit_backlog=3)
    writer = gw.app.state.runtime.audit
    good_engine = writer.engine
    writer.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # PostgreSQL "down"
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        codes = [client.post("/v1/predict", json=PREDICT) for _ in range(5)]
        assert [a.status_code for a in codes] == [200, 200, 200, 503, 503]
        assert "audit log" in codes[-1].json()["error"]["message"]
        assert client.get("/healthz").status_code == 503
        writer.engine = good_engine  # PostgreSQL back: the writer's retry drains the backlog
        deadline = time.monotonic() + 15
        while writer.backlog and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.post("/v1/predict", json=PREDICT).status_code == 200
    gw.flush_audit()
    ids = [a.headers["x-request-id"] for a in codes]
    with good_engine.connect() as conn:
        stored = [r.entry.status for i in ids for r in audit.read(conn, request_id=i)]
    assert stored == [200, 200, 200, 503, 503]
    with gw.client() as client:
        failures = [
            line
            for line in client.get("/metrics").text.splitlines()
            if line.startswith("aiprime_gateway_audit_write_failures_total")
        ]
    assert float(failures[0].split()[-1]) >= 1


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("alice")
    with pytest.raises(RateLimited) as info:
        limiter.take("alice")
    assert info.value.retry_after_s == pytest.approx(0.5)
    assert info.value.headers == {"Retry-After": "1"}
    limiter.take("bob")  # another principal has its own bucket
    clock.now += 0.5
    limiter.take("alice")  # one token back after 1/rate seconds
    with pytest.raises(RateLimited):
        limiter.take("alice")
    clock.now += 60
    for _ in range(3):  # refills up to the burst, not beyond
        limiter.take("alice")
    with pytest.raises(RateLimited):
        limiter.take("alice")
