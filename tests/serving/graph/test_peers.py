"""Graphs that call graphs (`serviceUrl: http://<name>`): loaded from the files beside the caller and run as
their own routers would, each with its own `routerTimeouts.serviceClient`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aiprime.errors import ConfigError
from aiprime.serving.graph import load_graph
from aiprime.serving.graph.spec import graph_host, service_urls

FAILED = "Failed to process request"
INPUT = {"instances": ["a dog runs"]}


def _write(folder: Path, make_graph, name: str, steps: list[dict], call_s: int | None = None) -> Path:
    spec = {"routerTimeouts": {"serviceClient": call_s}} if call_s else {}
    document = make_graph({"root": {"routerType": "Sequence", "steps": steps}}, name=name, **spec)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_only_a_bare_graph_name_is_a_graph_host() -> None:
    assert graph_host("http://moe-first-choice") == "moe-first-choice"
    assert graph_host("http://moe-first-choice/v1/models/x:predict") == "moe-first-choice"
    assert graph_host("http://127.0.0.1:8080/") is None and graph_host("http://localhost:8080") is None


def test_a_graph_url_loads_the_graph_beside_the_caller(tmp_path: Path, make_graph) -> None:
    _write(tmp_path, make_graph, "inner", [{"name": "model", "serviceName": "expert-x"}])
    outer = _write(tmp_path, make_graph, "outer", [{"name": "call", "serviceUrl": "http://inner"}])
    graph = load_graph(outer)
    assert graph.peers["http://inner"].name == "inner"
    with pytest.raises(ConfigError, match=r"Unknown serviceName 'expert-x' \(graph 'inner'"):
        service_urls(graph, {})


def test_graphs_calling_each_other_in_a_cycle_are_refused(tmp_path: Path, make_graph) -> None:
    _write(tmp_path, make_graph, "first", [{"serviceUrl": "http://second"}])
    _write(tmp_path, make_graph, "second", [{"serviceUrl": "http://first"}])
    with pytest.raises(ConfigError, match=r"cycle \(first -> second -> first\)"):
        load_graph(tmp_path / "first.yaml")


def test_a_peer_that_times_out_answers_an_error_the_caller_falls_back_from(
    tmp_path: Path, make_graph, http, router, zoo
) -> None:
    _write(tmp_path, make_graph, "slow-choice", [{"serviceUrl": zoo.path("/slow/3000")}], call_s=1)
    steps = [
        {"name": "choice", "serviceUrl": "http://slow-choice", "dependency": "Soft"},
        {
            "name": "fallback",
            "serviceUrl": zoo.path("/echo/fallback"),
            "condition": "error",
            "data": "$response",
        },
    ]
    url = router(load_graph(_write(tmp_path, make_graph, "caller", steps, call_s=10)))
    answer = http.post(url, json=INPUT)
    assert answer.status_code == 200
    assert answer.json()["tag"] == "fallback"
    assert answer.json()["received"]["error"] == FAILED  # what the peer's router answered


def test_the_callers_limit_bounds_the_whole_call_to_a_peer(
    tmp_path: Path, make_graph, http, router, zoo
) -> None:
    _write(tmp_path, make_graph, "patient", [{"serviceUrl": zoo.path("/slow/3000")}], call_s=10)
    steps = [{"name": "call", "serviceUrl": "http://patient", "dependency": "Soft"}]
    url = router(load_graph(_write(tmp_path, make_graph, "hasty", steps, call_s=1)))
    answer = http.post(url, json=INPUT)
    assert answer.status_code == 500  # a transport error in KServe: the graph fails whatever the dependency
    assert answer.json() == {
        "error": FAILED,
        "cause": "Post 'http://patient': timeout (routerTimeouts.serviceClient 1 s)",
    }
