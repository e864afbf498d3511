"""The shipped graphs (kserve/graphs/) end to end, in front of real `kserve.Model` servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aiprime.moe.experts import EXPERTS as REGISTRY
from aiprime.serving.graph import load_graph
from aiprime.serving.names import route_name

REPO = Path(__file__).resolve().parents[3]
GRAPHS = REPO / "kserve" / "graphs"
EXPERTS = tuple(route_name(spec.domain) for spec in REGISTRY)
SERVICES = ("gate", *(f"expert-{e}" for e in EXPERTS), "combiner")


@pytest.fixture(scope="module")
def moe_url(port_factory: Callable[[], int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a KServe REST server holding the gate, the six experts and the combiner."""
    port = port_factory()
    log = tmp_path_factory.mktemp("moe") / "server.log"
    script = Path(__file__).with_name("moe_models.py")
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, str(script), str(port)], stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the KServe stand-ins exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"the KServe stand-ins at {url} were not ready within 60 s:\n{log.read_text()[-2000:]}"
    )


def services(moe_url: str, down: tuple[str, ...], closed_port: int) -> dict[str, str]:
    """The services mapping for the stand-ins; names in `down` point at a port nothing listens on."""
    return {
        name: f"http://127.0.0.1:{closed_port}/v1/models/{name}:predict"
        if name in down
        else f"{moe_url}/v1/models/{name}:predict"
        for name in SERVICES
    }


def ask(http: httpx.Client, url: str, route: list[str], probs: list[float]) -> httpx.Response:
    return http.post(url, json={"instances": [{"text": "a dog runs", "route": route, "probs": probs}]})


def serve(router, name: str, moe_url: str, down: tuple[str, ...] = (), closed_port: int = 0) -> str:
    """Run the shipped graph `name` (and the graphs it calls) against the stand-ins, `down` unreachable."""
    return router(load_graph(GRAPHS / name), services(moe_url, down, closed_port))


def test_top1_sends_the_request_to_the_gates_choice(http, router, moe_url) -> None:
    url = serve(router, "top1.yaml", moe_url)
    answer = ask(http, url, ["actions", "qualities"], [0.8, 0.15])
    assert answer.status_code == 200
    instances = [{"text": "a dog runs", "route": ["actions", "qualities"], "probs": [0.8, 0.15]}]
    assert answer.json() == {
        "predictions": [
            {"expert": "actions", "probability": 0.8, "scores": {"actions": 1.0}, "instances": instances}
        ]
    }
    assert ask(http, url, ["people-society", "living"], [0.5, 0.4]).json()["predictions"][0]["expert"] == (
        "people-society"
    )


def test_top1_combines_the_top_two_when_the_gate_is_unsure(http, router, moe_url) -> None:
    url = serve(router, "top1.yaml", moe_url)
    hints = {"text": "a dog runs", "route": ["actions", "qualities"], "probs": [0.45, 0.3]}
    (unsure,) = http.post(url, json={"instances": [hints | {"confident": False}]}).json()["predictions"]
    assert unsure["experts"] == ["actions", "qualities"] and unsure["weights"] == pytest.approx([0.6, 0.4])
    (sure,) = http.post(url, json={"instances": [hints | {"confident": True}]}).json()["predictions"]
    assert sure["expert"] == "actions" and sure["scores"] == {"actions": 1.0}


def test_top1_with_its_expert_down_answers_503(http, router, moe_url, closed_port) -> None:
    url = serve(router, "top1.yaml", moe_url, down=("expert-actions",), closed_port=closed_port)
    answer = ask(http, url, ["actions", "qualities"], [0.8, 0.15])
    assert answer.status_code == 503 and answer.json()["error"] == "Service Unavailable"


def test_top2_weights_both_experts_by_gate_probability(http, router, moe_url) -> None:
    url = serve(router, "top2.yaml", moe_url)
    answer = ask(http, url, ["actions", "qualities"], [0.8, 0.2])
    assert answer.status_code == 200
    (record,) = answer.json()["predictions"]
    assert record["experts"] == ["actions", "qualities"]
    assert record["weights"] == pytest.approx([0.8, 0.2])
    assert record["scores"] == pytest.approx({"actions": 0.8, "qualities": 0.2})


def test_top2_degrades_to_the_first_choice_when_the_second_is_down(
    http, router, moe_url, closed_port
) -> None:
    url = serve(router, "top2.yaml", moe_url, down=("expert-qualities",), closed_port=closed_port)
    (record,) = ask(http, url, ["actions", "qualities"], [0.8, 0.2]).json()["predictions"]
    assert (record["experts"], record["weights"]) == (["actions"], [1.0])


@pytest.mark.parametrize(
    ("route", "down", "expected"),
    [
        (["actions", "qualities"], (), "actions"),
        (["actions", "qualities"], ("expert-actions",), "qualities"),  # first choice down: second choice
        (
            ["actions", "qualities"],
            ("expert-actions", "expert-qualities"),
            "abstractions",
        ),  # then the generalist
        (["unheard-of", "qualities"], (), "abstractions"),  # a choice no expert serves: the default branch
    ],
)
def test_fallback_graph_answers_when_an_expert_is_down(
    http, router, moe_url, closed_port, route: list[str], down: tuple[str, ...], expected: str
) -> None:
    url = serve(router, "fallback.yaml", moe_url, down=down, closed_port=closed_port)
    answer = ask(http, url, route, [0.7, 0.3])
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["expert"] == expected


@pytest.fixture
def hung_url() -> Iterator[str]:
    """A model server that accepts connections and never answers: a listening socket nobody reads."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1/models/hung:predict"


def test_fallback_graph_falls_back_from_a_hung_expert_within_the_choice_timeout(
    http, router, moe_url, hung_url
) -> None:
    limit = load_graph(GRAPHS / "fallback-first-choice.yaml").service_client_timeout_s
    assert limit is not None and limit < load_graph(GRAPHS / "fallback.yaml").service_client_timeout_s
    mapping = services(moe_url, (), 0) | {"expert-actions": hung_url}
    url = router(load_graph(GRAPHS / "fallback.yaml"), mapping)
    # Without the per-hop limit the router would wait for the outer serviceClient and answer 500.
    answer = http.post(url, json={"instances": [{"text": "a dog", "route": ["actions", "qualities"],
                                                 "probs": [0.7, 0.3]}]}, timeout=limit + 5)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["expert"] == "qualities"
