"""Loading and validating InferenceGraph YAML: KServe's webhook checks, ours, and the CRD's schema."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aiprime.errors import ConfigError
from aiprime.serving.graph import load_graph, load_services, parse_graph
from aiprime.serving.graph.resilience import POLICY_ANNOTATION, policy_for
from aiprime.serving.graph.spec import Dependency, RouterType, service_urls

REPO = Path(__file__).resolve().parents[3]
GRAPHS = REPO / "kserve" / "graphs"
CRD = REPO.parent / "shared" / "crds" / "serving.kserve.io_inferencegraphs.yaml"

URL = "http://127.0.0.1:9/x"
VALID = {
    "root": {
        "routerType": "Sequence",
        "steps": [
            {"name": "gate", "serviceName": "gate", "dependency": "Hard"},
            {"name": "pick", "nodeName": "pick", "data": "$response"},
        ],
    },
    "pick": {
        "routerType": "Switch",
        "steps": [{"serviceUrl": URL, "condition": 'predictions.#(expert=="a")'}],
    },
}


def with_change(change: Callable[[dict], Any]) -> dict:
    nodes = copy.deepcopy(VALID)
    change(nodes)
    return nodes


def test_valid_graph_loads_into_frozen_dataclasses(make_graph: Callable[..., dict]) -> None:
    graph = parse_graph(make_graph(VALID, timeout=30, routerTimeouts={"serviceClient": 5}))
    root = graph.nodes["root"]
    assert root.router_type is RouterType.SEQUENCE
    assert [step.key for step in root.steps] == ["gate", "pick"]
    assert root.steps[0].dependency is Dependency.HARD and root.steps[0].hard
    assert graph.nodes["pick"].steps[0].key == "0"  # unnamed: its index, as KServe keys it
    assert (graph.timeout_s, graph.service_client_timeout_s) == (30.0, 5.0)
    with pytest.raises(AttributeError):
        graph.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        graph.nodes["x"] = root  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda n: n.pop("root"), "root node not found"),
        (lambda n: n["root"]["steps"][1].update(nodeName="nope"), "refers to node 'nope'"),
        (
            lambda n: n["pick"]["steps"][0].update(nodeName="root", serviceUrl=""),
            "cycle (root -> pick -> root)",
        ),
        (lambda n: n["root"].update(routerType="Router"), "routerType 'Router'"),
        (lambda n: n["root"].update(steps=[]), "has no steps"),
        (lambda n: n["root"]["steps"][1].update(name="gate"), "more than one step with name 'gate'"),
        (lambda n: n["root"]["steps"][0].update(serviceUrl=URL), "more than one of nodeName, serviceName"),
        (lambda n: n["root"]["steps"][0].pop("serviceName"), "does not specify an inference target"),
        (lambda n: n["root"]["steps"][0].update(dependancy="Hard"), "unknown fields ['dependancy']"),
        (lambda n: n["root"]["steps"][0].update(dependency="hard"), "neither 'Soft' nor 'Hard'"),
        (
            lambda n: n["root"]["steps"][1].update(data="$response.predictions"),
            "data '$response.predictions'",
        ),
        (lambda n: n["pick"]["steps"][0].pop("condition"), "can never match in a Switch"),
        (lambda n: n["root"]["steps"][0].update(condition="a"), "first step of a Sequence"),
        (lambda n: n["pick"]["steps"][0].update(serviceUrl="ftp://x"), "not an http(s) URL"),
        (lambda n: n["pick"].update(routerType="Ensemble"), "ignores conditions in a Ensemble node"),
    ],
)
def test_invalid_graphs_are_refused_naming_the_fault(
    make_graph: Callable[..., dict], change: Callable[[dict], Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_graph(make_graph(with_change(change)))


def test_unsupported_condition_is_refused_naming_node_step_and_expression(
    make_graph: Callable[..., dict],
) -> None:
    nodes = with_change(lambda n: n["pick"]["steps"][0].update(name="a", condition="predictions.@reverse"))
    with pytest.raises(ConfigError) as error:
        parse_graph(make_graph(nodes), source="g.yaml")
    assert "g.yaml: node 'pick' step 0 ('a'): condition 'predictions.@reverse' is not supported" in str(
        error.value
    )


@pytest.mark.parametrize(
    ("weights", "message"),
    [([50, 50], None), ([30, 60], "should be 100, got 90"), ([100, None], "missing the 'weight'")],
)
def test_splitter_weights_must_sum_to_100(
    make_graph: Callable[..., dict], weights: list[int | None], message: str | None
) -> None:
    steps = [{"serviceUrl": URL, **({"weight": w} if w is not None else {})} for w in weights]
    document = make_graph({"root": {"routerType": "Splitter", "steps": steps}})
    if message is None:
        assert [s.weight for s in parse_graph(document).nodes["root"].steps] == weights
    else:
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_graph(document)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(apiVersion="serving.kserve.io/v1beta1"), "expected apiVersion"),
        (lambda d: d["metadata"].update(name="Top_1"), "name 'Top_1' is invalid"),
        (lambda d: d["spec"].update(timeout=0), "spec.timeout must be a positive whole number"),
    ],
)
def test_invalid_headers_are_refused(make_graph: Callable[..., dict], change: Callable, message: str) -> None:
    document = make_graph(copy.deepcopy(VALID))
    change(document)
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_graph(document)


def test_missing_files_and_bad_yaml_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="InferenceGraph file not found"):
        load_graph(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_graph(tmp_path / "bad.yaml")
    (tmp_path / "services.yaml").write_text("gate: localhost:8081\n")
    with pytest.raises(ConfigError, match="give an http"):
        load_services(tmp_path / "services.yaml")


def test_every_service_name_needs_a_url(make_graph: Callable[..., dict]) -> None:
    graph = parse_graph(make_graph(VALID))
    assert service_urls(graph, {"gate": URL}) == {"gate": URL}
    with pytest.raises(
        ConfigError, match=re.escape("Unknown serviceName 'gate' (graph 'test-graph', node 'root'")
    ):
        service_urls(graph, {})


def test_a_services_mapping_is_optional(tmp_path: Path) -> None:
    assert load_services(None) == {}
    (tmp_path / "empty.yaml").write_text("# no serviceName steps\n")
    assert load_services(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("retry: {maxRetries: 2, steps: [root/nope]}", "retry step 'root/nope' is not a serviceName"),
        ("retry: {maxRetries: 2, steps: [root/pick]}", "retry step 'root/pick'"),  # a nodeName step
        ("retry: {maxRetrys: 2}", "unknown keys ['maxRetrys']"),
        ("retry: {maxRetries: -1}", "must be a number >= 0"),
        ("avoidance: {enabled: true, fallbacks: {root/gate: {serviceUrl: x}}}", "not a step of a Switch"),
        ("avoidance: {fallbacks: {pick/0: {}}}", "exactly one of nodeName"),
        ("avoidance: {fallbacks: {pick/0: {nodeName: ghost}}}", "unknown node 'ghost'"),
        ("retry: [", "not valid YAML"),
    ],
)
def test_bad_router_policy_annotations_are_refused(
    make_graph: Callable[..., dict], policy: str, message: str
) -> None:
    graph = parse_graph(make_graph(VALID, annotations={POLICY_ANNOTATION: policy}))
    with pytest.raises(ConfigError, match=re.escape(message)):
        policy_for(graph)


def test_policy_is_off_without_annotation_and_parsed_with_one(make_graph: Callable[..., dict]) -> None:
    assert policy_for(parse_graph(make_graph(VALID))).retry.max_retries == 0
    annotation = "retry: {maxRetries: 2, initialDelayMs: 10, steps: [root/gate]}\navoidance: {enabled: true}"
    policy = policy_for(parse_graph(make_graph(VALID, annotations={POLICY_ANNOTATION: annotation})))
    assert policy.retry.covers("root", "gate") and not policy.retry.covers("pick", "0")
    assert policy.retry.initial_delay_s == 0.01 and policy.avoidance.enabled


def graph_files() -> list[Path]:
    return sorted(
        p for p in GRAPHS.glob("*.yaml") if yaml.safe_load(p.read_text()).get("kind") == "InferenceGraph"
    )


def test_the_shipped_graphs_are_found() -> None:
    assert {p.name for p in graph_files()} >= {"top1.yaml", "top2.yaml", "fallback.yaml", "rag.yaml"}


@pytest.mark.parametrize("path", graph_files(), ids=lambda p: p.name)
def test_shipped_graph_loads_and_resolves_every_service(path: Path) -> None:
    graph = load_graph(path)
    services = load_services(GRAPHS / "services.local.yaml")
    assert set(service_urls(graph, services)) <= set(services)
    policy_for(graph)


@pytest.mark.parametrize("path", graph_files(), ids=lambda p: p.name)
def test_shipped_graph_validates_against_kserve_crd_schema(path: Path) -> None:
    if not CRD.is_file():
        pytest.skip(f"KServe's CRDs are not at {CRD.parent}; they come from the shared workspace folder.")
    schema = _crd_schema()
    document = yaml.safe_load(path.read_text())
    jsonschema.validate(document, schema)
    assert _pruned_fields(document["spec"], schema["properties"]["spec"]) == []


@functools.cache
def _crd_schema() -> dict:
    crd = yaml.safe_load(CRD.read_text())
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]


def _pruned_fields(value: Any, schema: dict, where: str = "spec") -> list[str]:
    """Fields the API server would drop: keys that the structural schema does not declare."""
    if isinstance(value, list):
        return [
            f
            for i, item in enumerate(value)
            for f in _pruned_fields(item, schema.get("items", {}), f"{where}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    if "properties" not in schema:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return [f for k, v in value.items() for f in _pruned_fields(v, extra, f"{where}.{k}")]
        return []
    pruned = [f"{where}.{k}" for k in value if k not in schema["properties"]]
    return pruned + [
        f
        for k, v in value.items()
        if k in schema["properties"]
        for f in _pruned_fields(v, schema["properties"][k], f"{where}.{k}")
    ]
