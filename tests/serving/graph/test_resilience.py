"""Beyond KServe: retries of idempotent steps and avoidance of unready targets, both opt-in."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from aiprime.errors import ConfigError
from aiprime.serving.graph import RouterConfig, RouterPolicy, create_app, parse_graph
from aiprime.serving.graph.resilience import POLICY_ANNOTATION, AvoidancePolicy, HealthBook, RetryPolicy

RETRY = "retry: {maxRetries: 2, initialDelayMs: 1, maxDelayMs: 5, steps: [root/model]}"


def one_step_graph(make_graph, url: str, policy: str | None = RETRY) -> dict:
    nodes = {"root": {"routerType": "Sequence", "steps": [{"name": "model", "serviceUrl": url}]}}
    return make_graph(nodes, annotations={POLICY_ANNOTATION: policy} if policy else None)


def test_idempotent_step_is_retried_until_it_succeeds(http, router, zoo, make_graph) -> None:
    url = router(one_step_graph(make_graph, zoo.path("/flaky/twice/2")))
    answer = http.post(url, content=b"{}")
    assert (answer.status_code, answer.json()) == (200, {"predictions": "ok", "attempt": 3})
    assert 'aiprime_router_retries_total{node="root",step="model"} 2.0' in http.get(f"{url}/metrics").text


def test_retries_are_bounded(http, router, zoo, make_graph) -> None:
    url = router(one_step_graph(make_graph, zoo.path("/flaky/often/5")))
    assert http.post(url, content=b"{}").status_code == 503
    assert zoo.state.calls["/flaky/often/5"] == 3  # the first attempt and two retries


def test_client_errors_are_not_retried(http, router, zoo, make_graph) -> None:
    url = router(one_step_graph(make_graph, zoo.path("/status/400")))
    assert http.post(url, content=b"{}").status_code == 400
    assert zoo.state.calls["/status/400"] == 1


@pytest.mark.parametrize(
    ("policy", "config"),
    [(None, None), (RETRY, RouterConfig(policy=RouterPolicy()))],
    ids=["no-annotation", "config-turns-it-off"],
)
def test_retries_are_off_by_default_and_switchable(http, router, zoo, make_graph, policy, config) -> None:
    url = router(one_step_graph(make_graph, zoo.path("/flaky/off/2"), policy), config=config)
    assert http.post(url, content=b"{}").status_code == 503
    assert zoo.state.calls["/flaky/off/2"] == 1


def test_retry_delays_double_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retries=5, initial_delay_s=0.1, max_delay_s=0.3, steps=frozenset({"*"}))
    rng = random.Random(0)
    for attempt, full in enumerate([0.1, 0.2, 0.3, 0.3]):
        assert full / 2 <= policy.delay_s(attempt, rng) <= full
    assert policy.covers("any", "step")


def switch_with_fallback(make_graph, zoo, primary: str, avoidance: str) -> dict:
    nodes = {
        "root": {
            "routerType": "Switch",
            "steps": [{"name": "primary", "serviceUrl": zoo.path(primary), "condition": "instances"}],
        }
    }
    fallback = zoo.path("/echo/fallback")
    policy = (
        f"avoidance: {{enabled: true, {avoidance}, fallbacks: {{root/primary: {{serviceUrl: {fallback}}}}}}}"
    )
    return make_graph(nodes, annotations={POLICY_ANNOTATION: policy})


def test_unready_target_is_avoided_in_favour_of_its_fallback(http, router, zoo, make_graph) -> None:
    url = router(switch_with_fallback(make_graph, zoo, "/echo/primary", "probeIntervalMs: 0"))
    body = json.dumps({"instances": [1]})
    zoo.state.ready = False
    assert http.post(url, content=body).json()["tag"] == "fallback"
    zoo.state.ready = True
    assert http.post(url, content=body).json()["tag"] == "primary"
    assert 'aiprime_router_fallbacks_total{node="root",step="primary"} 1.0' in http.get(f"{url}/metrics").text


def test_target_at_its_in_flight_limit_is_avoided(http, router, zoo, make_graph) -> None:
    url = router(switch_with_fallback(make_graph, zoo, "/slow/400", "probeReady: false, maxInFlight: 1"))
    body = json.dumps({"instances": [1]})
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(http.post, url, content=body)
        time.sleep(0.15)  # let the first request reach the slow target
        quick = pool.submit(http.post, url, content=body)
        answers = [slow.result().json(), quick.result().json()]
    assert answers == [{"slept_ms": 400}, {"tag": "fallback", "received": {"instances": [1]}}]


def test_ensemble_step_failing_repeatedly_is_avoided(http, router, zoo, make_graph, closed_port) -> None:
    nodes = {
        "root": {
            "routerType": "Ensemble",
            "steps": [{"name": "a", "serviceName": "down"}, {"name": "b", "serviceUrl": zoo.path("/echo/b")}],
        }
    }
    policy = (
        "avoidance: {enabled: true, probeReady: false, failureThreshold: 2, cooldownMs: 60000, "
        f"fallbacks: {{root/a: {{serviceUrl: {zoo.path('/echo/a-fallback')}}}}}}}"
    )
    services = {"down": f"http://127.0.0.1:{closed_port}/v1/models/down:predict"}
    url = router(make_graph(nodes, annotations={POLICY_ANNOTATION: policy}), services)
    first, second, third = (http.post(url, content=b"{}").json()["a"] for _ in range(3))
    assert first["error"] == second["error"] == "Service Unavailable"  # Soft: kept in the ensemble
    assert third["tag"] == "a-fallback"


def test_health_book_recovers_after_cooldown() -> None:
    async def scenario(book: HealthBook, now: list[float]) -> list[bool]:
        seen = [await book.available("http://x")]
        fail(book, times=2)
        seen.append(await book.available("http://x"))
        now[0] = 6.0
        seen.append(await book.available("http://x"))
        return seen

    assert run_book(scenario) == [True, False, True]


def test_failing_target_is_avoided_again_after_each_failed_trial() -> None:
    async def scenario(book: HealthBook, now: list[float]) -> list[bool]:
        fail(book, times=2)  # opens the breaker at t=0
        now[0] = 6.0
        seen = [await book.available("http://x"), await book.available("http://x")]  # one trial only
        fail(book, times=5)
        seen.append(await book.available("http://x"))  # re-opened at t=6
        now[0] = 10.0
        seen.append(await book.available("http://x"))  # still cooling down
        now[0] = 11.5
        seen.append(await book.available("http://x"))  # the next trial...
        book.started("http://x")
        book.finished("http://x", ok=True)  # ...succeeds and closes the breaker
        return [*seen, await book.available("http://x"), await book.available("http://x")]

    assert run_book(scenario) == [True, False, False, False, True, True, True]


def run_book(scenario: Callable[[HealthBook, list[float]], Awaitable[list[bool]]]) -> list[bool]:
    """Run `scenario` on a book (threshold 2, cooldown 5 s) whose clock reads `now[0]`, starting at 0."""
    policy = AvoidancePolicy(enabled=True, probe_ready=False, failure_threshold=2, cooldown_s=5)
    now = [0.0]

    async def main() -> list[bool]:
        async with aiohttp.ClientSession() as client:
            return await scenario(HealthBook(policy, client, clock=lambda: now[0]), now)

    return asyncio.run(main())


def fail(book: HealthBook, times: int) -> None:
    for _ in range(times):
        book.started("http://x")
        book.finished("http://x", ok=False)


def test_a_fallback_service_must_be_mapped(make_graph) -> None:
    nodes = {
        "root": {
            "routerType": "Switch",
            "steps": [{"name": "a", "serviceUrl": "http://127.0.0.1:9/x", "condition": "x"}],
        }
    }
    policy = "avoidance: {enabled: true, fallbacks: {root/a: {serviceName: spare}}}"
    graph = parse_graph(make_graph(nodes, annotations={POLICY_ANNOTATION: policy}))
    with pytest.raises(ConfigError, match="serviceName 'spare', which the services mapping does not map"):
        create_app(graph, {})
    create_app(graph, {"spare": "http://127.0.0.1:9/v1/models/spare:predict"})
