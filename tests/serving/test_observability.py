"""Metrics and traces of the servers: selections, in-flight, dropped and overflowed requests, and the
router's W3C trace continued by the gate and the expert."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx
import pytest

DOG = "a domestic animal that barks and is kept as a pet"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text page (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match[1].split(","))) == wanted:
            return float(match[2])
    return 0.0


@pytest.mark.slow
def test_gate_counts_its_selections_beside_kserves_histograms(served, http) -> None:
    before = http.get(f"{served.base('gate')}/metrics").text
    route = http.post(served.services["gate"], json={"instances": [DOG]}).json()["predictions"][0]
    after = http.get(f"{served.base('gate')}/metrics").text
    for rank, expert in (("first", route["experts"][0]), ("second", route["experts"][1])):
        name = "aiprime_gate_selections_total"
        assert (
            _metric(after, name, expert=expert, rank=rank)
            == _metric(before, name, expert=expert, rank=rank) + 1
        )
    assert _metric(after, "request_predict_seconds_count", model_name="gate") >= 1  # KServe's own
    assert _metric(after, "aiprime_model_in_flight_requests", model="gate") == 0


@pytest.mark.slow
def test_invalid_requests_are_counted_as_dropped(served, http) -> None:
    url = f"{served.base('expert-actions')}/metrics"
    before = _metric(http.get(url).text, "aiprime_model_dropped_requests_total", model="expert-actions",
                     reason="invalid_input")  # fmt: skip
    assert http.post(served.services["expert-actions"], json={"instances": [""]}).status_code == 400
    after = _metric(http.get(url).text, "aiprime_model_dropped_requests_total", model="expert-actions",
                    reason="invalid_input")  # fmt: skip
    assert after == before + 1


@pytest.mark.slow
def test_an_expert_past_its_limit_answers_503_and_counts_the_overflow(served) -> None:
    name = "expert-qualities"
    url = f"{served.base(name)}/v1/models/{name}:explain"  # explanations hold a slot for a second or more

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=300) as client:
            return await asyncio.gather(*(client.post(url, json={"instances": [DOG]}) for _ in range(6)))

    statuses = sorted(r.status_code for r in asyncio.run(burst()))
    assert statuses.count(200) >= 2 and 503 in statuses, statuses  # MAX_IN_FLIGHT = 2 at a time
    refused = next(r for r in asyncio.run(burst()) if r.status_code == 503)
    assert "--max_in_flight" in refused.json()["error"]  # a JSON error: a graph's `condition: error` sees it
    text = httpx.get(f"{served.base(name)}/metrics").text
    assert _metric(text, "aiprime_model_dropped_requests_total", model=name, reason="overflow") >= 1
    assert _metric(text, "aiprime_model_max_in_flight", model=name) == 2


def _trace_spans(
    served, name: str, done: Callable[[list[dict]], bool], timeout_s: float = 20.0
) -> list[dict]:
    """The spans of TRACE_ID that server `name` has written, once `done` holds for them (or the time is up).

    Servers write spans in batches, about every 5 s (BatchSpanProcessor), not as each one ends.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        spans = [s for s in served.spans(name) if s["context"]["trace_id"] == f"0x{TRACE_ID}"]
        if done(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def _has_server_span(spans: list[dict]) -> bool:
    return any(s["kind"] == "SpanKind.SERVER" for s in spans)


def _named(spans: list[dict], prefix: str) -> bool:
    return any(s["name"].startswith(prefix) for s in spans)


def _router_spans_written(spans: list[dict]) -> bool:
    """The root node's span (it ends last) and the expert step's are in the file."""
    return _named(spans, "node root") and _named(spans, "step top1-expert/")


@pytest.mark.slow
def test_the_routers_trace_goes_on_in_the_gate_and_the_expert(served, http) -> None:
    incoming = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    answer = http.post(served.stack.router_url, json={"instances": [DOG]}, headers={"traceparent": incoming})
    expert = f"expert-{answer.json()['predictions'][0]['expert']}"
    router = {s["name"]: s for s in _trace_spans(served, "router", _router_spans_written)}
    gate = _trace_spans(
        served, "gate", lambda spans: _has_server_span(spans) and _named(spans, "gate predict")
    )
    experts = _trace_spans(served, expert, _has_server_span)
    assert router["node root"]["parent_id"] == "0x00f067aa0ba902b7"  # the router continues the caller's trace
    gate_server = next(s for s in gate if s["kind"] == "SpanKind.SERVER")
    assert gate_server["parent_id"] == router["step root/gate"]["context"]["span_id"]
    expert_step = next(s for n, s in router.items() if n.startswith("step top1-expert/"))
    assert (
        next(s for s in experts if s["kind"] == "SpanKind.SERVER")["parent_id"]
        == expert_step["context"]["span_id"]
    )
    assert any(s["name"] == "gate predict" and s["attributes"]["aiprime.expert"] for s in gate)
