"""The inference NetworkPolicies, built from the graphs a cluster serves: each admits exactly one graph's hops.

The gateway calls the graphs of GATEWAY_UPSTREAMS (`gateway_upstreams` points its settings at them) and the
InferenceServices of GATEWAY_SERVICES; each graph calls the InferenceServices its `serviceName` steps name and
the graphs its `serviceUrl: http://<name>` steps name. For every hop the caller's pods get an egress rule and the callee's pods an ingress rule, selected by
the labels KServe puts on the pods (`serving.kserve.io/inferencegraph`, `serving.kserve.io/inferenceservice`)
and, for the gateway, `aiprime.io/inference-client`. Nothing else reaches a model server or a router
(base's default-deny; Prometheus has its own policy in components/monitoring).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiprime.deploy.graphs import graph_url
from aiprime.serving.graph.spec import graph_host

GRAPH_LABEL = "serving.kserve.io/inferencegraph"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
CLIENT_LABEL = "aiprime.io/inference-client"  # the gateway's pods
PORT = 8080  # model servers and routers alike
#: The gateway's upstreams that are graphs (`AIPRIME_GATEWAY_<NAME>_URL`, aiprime.gateway.config), by name.
GATEWAY_UPSTREAMS = {
    "predict": "moe-top1-fallback",
    "ask": "moe-rag",
    "media_predict": "moe-multimodal",  # POST /v1/predict/media: text, speech or an image
    "media_ask": "moe-rag-multimodal",  # POST /v1/ask/media
}
GATEWAY_GRAPHS = tuple(GATEWAY_UPSTREAMS.values())
GATEWAY_SERVICES = ("gate",)  # InferenceServices the gateway calls itself (explain)
EXPLAIN_URL = "http://gate-predictor/v1/models/gate:explain"  # the gate's predictor Service (KServe names it)

Document = dict[str, Any]


def calls(graph: Document) -> tuple[list[str], list[str]]:
    """The InferenceServices and the graphs that a graph's steps call, each sorted."""
    steps = [step for node in graph["spec"]["nodes"].values() for step in node["steps"]]
    services = {step["serviceName"] for step in steps if step.get("serviceName")}
    graphs = {graph_host(step["serviceUrl"]) for step in steps if step.get("serviceUrl")}
    return sorted(services), sorted(name for name in graphs if name)


def served(graphs: Mapping[str, Document], entry: Sequence[str] = GATEWAY_GRAPHS) -> list[str]:
    """The graphs reached from `entry`, directly or through other graphs, in `graphs`' order."""
    reached, pending = set(), list(entry)
    while pending:
        name = pending.pop()
        if name not in reached:
            reached.add(name)
            pending.extend(calls(graphs[name])[1])
    return [name for name in graphs if name in reached]


def network_policies(graphs: Mapping[str, Document]) -> list[Document]:
    """An egress and an ingress policy per served graph, an ingress policy per called InferenceService, and
    the gateway's egress."""
    names = served(graphs)
    callers = _callers(graphs, names)
    policies = [_gateway_egress()]
    for name in names:
        services, peers = calls(graphs[name])
        policies.append(_policy(f"graph-{name}-egress", {GRAPH_LABEL: name}, "Egress", _to(services, peers)))
        policies.append(_policy(f"graph-{name}-ingress", {GRAPH_LABEL: name}, "Ingress", callers[name]))
    for service in sorted(key for key in callers if key not in names):
        policies.append(
            _policy(f"isvc-{service}-ingress", {ISVC_LABEL: service}, "Ingress", callers[service])
        )
    return policies


def _callers(graphs: Mapping[str, Document], names: Sequence[str]) -> dict[str, list[dict]]:
    """Who may call each graph and InferenceService: peer selectors, by callee name."""
    calling: dict[str, list[str]] = {}
    for name in names:
        for callee in (callee for group in calls(graphs[name]) for callee in group):
            calling.setdefault(callee, []).append(name)
    selectors = {callee: [_in(GRAPH_LABEL, sorted(set(by)))] for callee, by in calling.items()}
    for callee in (*GATEWAY_GRAPHS, *GATEWAY_SERVICES):
        selectors.setdefault(callee, []).insert(0, {"podSelector": {"matchLabels": {CLIENT_LABEL: "true"}}})
    return selectors


def _to(services: Sequence[str], graphs: Sequence[str]) -> list[dict]:
    return ([_in(ISVC_LABEL, services)] if services else []) + ([_in(GRAPH_LABEL, graphs)] if graphs else [])


def _in(key: str, values: Sequence[str]) -> dict:
    return {"podSelector": {"matchExpressions": [{"key": key, "operator": "In", "values": list(values)}]}}


def _gateway_egress() -> Document:
    peers = _to(GATEWAY_SERVICES, GATEWAY_GRAPHS)
    return _policy("inference-client-egress", {CLIENT_LABEL: "true"}, "Egress", peers)


def _policy(name: str, pods: Mapping[str, str], direction: str, peers: list[dict]) -> Document:
    rule_key, peer_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "podSelector": {"matchLabels": dict(pods)},
            "policyTypes": [direction],
            rule_key: [{peer_key: peers, "ports": [{"port": PORT, "protocol": "TCP"}]}],
        },
    }


def gateway_upstreams() -> Document:
    """A strategic-merge patch of the gateway's Deployment: each upstream URL pointed at the Service KServe
    creates for its graph (named after it, port 80) or, for explain, at the gate's predictor."""
    urls = {name: graph_url(graph) for name, graph in GATEWAY_UPSTREAMS.items()} | {"explain": EXPLAIN_URL}
    env = [{"name": f"AIPRIME_GATEWAY_{name.upper()}_URL", "value": url} for name, url in urls.items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gateway"},
        "spec": {"template": {"spec": {"containers": [{"name": "gateway", "env": env}]}}},
    }
