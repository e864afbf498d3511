"""The gate's load watcher against real experts: readiness and in-flight counts read from their endpoints."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from aiprime.serving.load import Endpoint, LoadWatcher, endpoints, read_load, rerank

DOG = "a domestic animal that barks and is kept as a pet"


def test_rerank_moves_avoided_experts_last_in_probability_order() -> None:
    avoid = {"b": "saturated", "c": "not_ready"}.get
    experts, probabilities, avoided = rerank(["a", "b", "c", "d"], [0.4, 0.3, 0.2, 0.1], avoid)
    assert experts == ["a", "d", "b", "c"] and probabilities == [0.4, 0.1, 0.3, 0.2]
    assert avoided == {"b": "saturated", "c": "not_ready"}
    assert rerank(["b", "c"], [0.6, 0.4], avoid)[0] == ["b", "c"]  # all avoided: nothing better to offer


def test_endpoints_come_from_the_services_mapping() -> None:
    services = {"gate": "http://h:1/v1/models/gate:predict",
                "expert-people-society": "http://h:2/v1/models/expert-people-society:predict"}  # fmt: skip
    assert endpoints(services) == {"people-society": Endpoint("http://h:2", "expert-people-society")}


@pytest.mark.slow
def test_watcher_sees_an_unreachable_expert_and_a_busy_one(served, closed_port) -> None:
    busy = Endpoint(served.base("expert-artifacts"), "expert-artifacts")
    gone = Endpoint(f"http://127.0.0.1:{closed_port}", "expert-gone")
    watcher = LoadWatcher({"artifacts": busy, "gone": gone}, capacity=1)
    with httpx.Client(timeout=5) as client:
        watcher.poll(client)
        assert (watcher.avoid("artifacts"), watcher.avoid("gone"), watcher.avoid("unwatched")) == (
            None,
            "not_ready",
            None,
        )
        explaining = threading.Thread(  # an explanation holds the expert for a second or more
            target=httpx.post, args=(f"{busy.origin}/v1/models/expert-artifacts:explain",),
            kwargs={"json": {"instances": [DOG]}, "timeout": 120},
        )  # fmt: skip
        explaining.start()
        reasons = set()
        while explaining.is_alive() and "saturated" not in reasons:
            watcher.poll(client)
            reasons.add(watcher.avoid("artifacts"))
            time.sleep(0.05)
        explaining.join()
        watcher.poll(client)
    assert "saturated" in reasons  # in flight 1 >= capacity 1
    assert watcher.avoid("artifacts") is None  # free again
    assert read_load(httpx.Client(), busy).in_flight == 0
