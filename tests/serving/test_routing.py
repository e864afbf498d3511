"""The shipped InferenceGraphs on the real servers: top-1 through `aiprime serve`'s router, top-2 and the
fallback through routers built on the same servers, and the gate's load-aware routing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import uvicorn

from aiprime.serving.graph import create_app, load_graph

REPO = Path(__file__).resolve().parents[2]
DOG = "a domestic animal that barks and is kept as a pet"
ANIMALS = [DOG, "a small bird that sings", "a large cat of the jungle", "an oak tree with acorns"]


class Router:
    """The local router for a graph file, in a thread, on a free port."""

    def __init__(self, graph: str, services: dict[str, str]) -> None:
        app = create_app(load_graph(REPO / "kserve" / "graphs" / graph), services)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _route(http, served, text: str) -> dict:
    return http.post(served.services["gate"], json={"instances": [text]}).json()["predictions"][0]


@pytest.mark.slow
def test_top1_graph_answers_with_the_gates_first_choice(served, http) -> None:
    route = _route(http, served, DOG)
    answer = http.post(served.stack.router_url, json={"instances": [DOG]})
    assert answer.status_code == 200, answer.text
    (record,) = answer.json()["predictions"]
    assert record["expert"] == route["expert"]
    assert record["probability"] == pytest.approx(route["probabilities"][0])
    direct = http.post(served.services[f"expert-{route['expert']}"], json={"instances": [DOG]}).json()
    assert record["scores"] == pytest.approx(direct["predictions"][0]["scores"], abs=1e-5)


@pytest.mark.slow
def test_top2_graph_weights_both_choices_by_the_gates_probabilities(served, http) -> None:
    route = _route(http, served, DOG)
    with Router("top2.yaml", served.services) as url:
        answer = http.post(url, json={"instances": [DOG]})
    assert answer.status_code == 200, answer.text
    (record,) = answer.json()["predictions"]
    assert record["experts"] == route["experts"][:2]
    p1, p2 = route["probabilities"][:2]
    assert record["weights"] == pytest.approx([p1 / (p1 + p2), p2 / (p1 + p2)], abs=1e-4)


@pytest.mark.slow
def test_fallback_graph_answers_from_the_second_choice_when_the_first_is_down(
    served, http, closed_port
) -> None:
    route = _route(http, served, DOG)
    first, second = route["experts"][:2]
    down = dict(
        served.services, **{f"expert-{first}": f"http://127.0.0.1:{closed_port}/v1/models/down:predict"}
    )
    with Router("fallback.yaml", down) as url:
        answer = http.post(url, json={"instances": [DOG]})
    assert answer.status_code == 200, answer.text
    (record,) = answer.json()["predictions"]
    assert record["expert"] == second
    assert record["probability"] == pytest.approx(route["probabilities"][1])


@pytest.mark.slow
def test_load_aware_gate_ranks_an_unreachable_expert_last(served, http) -> None:
    living = [text for text in ANIMALS if _route(http, served, text)["expert"] == "living"]
    assert living, "the tiny gate routes none of the animal texts to `living`"
    aware = http.post(f"{served.aware_gate.url}/v1/models/gate:predict", json={"instances": [living[0]]})
    record = aware.json()["predictions"][0]
    plain = _route(http, served, living[0])
    assert record["experts"] == [e for e in plain["experts"] if e != "living"] + ["living"]
    assert record["expert"] != "living"
    metrics = http.get(f"{served.aware_gate.url}/metrics").text
    assert 'aiprime_gate_avoided_total{expert="living",reason="not_ready"}' in metrics
