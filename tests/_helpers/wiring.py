"""Resolve a rendered overlay's request hops the way a cluster would, and name each one that is broken.

A hop is a caller pod calling a URL: the gateway calling its upstreams (`AIPRIME_GATEWAY_<NAME>_URL`), and an
InferenceGraph's router calling its steps (`serviceName` -> the InferenceService's predictor, `serviceUrl`
`http://<name>` -> another graph's Service). Each hop must resolve to pods that exist in the render and be
admitted by the NetworkPolicies at both ends (egress of the caller, ingress of the callee). KServe creates
the Services and pods of InferenceServices and InferenceGraphs; their labels and ports are written here as
KServe's controllers set them (Standard deployment mode: Service port 80 -> container port 8080).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ISVC_LABEL = "serving.kserve.io/inferenceservice"
GRAPH_LABEL = "serving.kserve.io/inferencegraph"
SERVER_PORT = 8080  # what KServe's Services forward port 80 to, for model servers and routers alike
UPSTREAM_ENV = "AIPRIME_GATEWAY_{}_URL"


@dataclass(frozen=True)
class Pods:
    """The pods a hop reaches: a name for messages, their labels, the port they serve on."""

    name: str
    labels: Mapping[str, str] = field(hash=False)
    port: int = SERVER_PORT


@dataclass(frozen=True)
class Hop:
    """One call: from the caller's pods to a URL."""

    caller: Pods
    via: str  # how the caller names it: `predict upstream`, `graph moe-rag node root step 'gate'`
    url: str


def of_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    """The rendered objects of one kind, by name."""
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def graph_pods(graph: dict) -> Pods:
    """The router pods of an InferenceGraph: its labels plus the one KServe adds."""
    name = graph["metadata"]["name"]
    return Pods(f"InferenceGraph/{name}", {**graph["metadata"].get("labels", {}), GRAPH_LABEL: name})


def isvc_pods(isvc: dict) -> Pods:
    """The predictor pods of an InferenceService: the predictor's labels plus the one KServe adds."""
    name = isvc["metadata"]["name"]
    labels = {**isvc["spec"]["predictor"].get("labels", {}), ISVC_LABEL: name}
    ports = [p["containerPort"] for p in isvc["spec"]["predictor"]["containers"][0].get("ports", [])]
    return Pods(f"InferenceService/{name}", labels, ports[0] if ports else SERVER_PORT)


def gateway_hops(manifests: list[dict], upstreams: tuple[str, ...]) -> tuple[Pods, list[Hop], list[str]]:
    """The gateway's pods, a hop per configured upstream, and the upstreams left unset."""
    deployment = of_kind(manifests, "Deployment")["gateway"]
    template = deployment["spec"]["template"]
    env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0].get("env", [])}
    pods = Pods("Deployment/gateway", template["metadata"]["labels"])
    hops = [
        Hop(pods, f"{name} upstream", env[UPSTREAM_ENV.format(name.upper())])
        for name in upstreams
        if env.get(UPSTREAM_ENV.format(name.upper()))
    ]
    unset = [name for name in upstreams if not env.get(UPSTREAM_ENV.format(name.upper()))]
    return pods, hops, unset


def step_hops(graph: dict) -> Iterator[Hop]:
    """A hop for every step of a graph that calls a service (nodeName steps stay inside the router)."""
    caller = graph_pods(graph)
    for node_name, node in graph["spec"]["nodes"].items():
        for index, step in enumerate(node["steps"]):
            via = f"{caller.name} node {node_name!r} step {step.get('name', index)!r}"
            if step.get("serviceName"):
                yield Hop(caller, via, f"isvc:{step['serviceName']}")
            elif step.get("serviceUrl"):
                yield Hop(caller, via, step["serviceUrl"])


def resolve(manifests: list[dict], url: str) -> tuple[Pods | None, dict | None, str]:
    """The pods a URL reaches, the graph behind it (when it is one), and why it reaches nothing."""
    if url.startswith("isvc:"):  # a serviceName: KServe's controller resolves it to the predictor
        name = url.removeprefix("isvc:")
        isvc = of_kind(manifests, "InferenceService").get(name)
        return (isvc_pods(isvc), None, "") if isvc else (None, None, f"no InferenceService named {name!r}")
    parts = urlsplit(url)
    host = (parts.hostname or "").split(".")[0]
    if parts.port not in (None, 80):
        return None, None, f"{url} uses port {parts.port}; KServe's Services listen on 80"
    graph = of_kind(manifests, "InferenceGraph").get(host)
    if graph is not None:
        return graph_pods(graph), graph, ""
    isvc = of_kind(manifests, "InferenceService").get(host.removesuffix("-predictor"))
    if host.endswith("-predictor") and isvc is not None:
        return isvc_pods(isvc), None, ""
    return None, None, f"host {host!r} is neither an InferenceGraph nor an InferenceService predictor"


def selects(selector: Mapping, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector selects pods with `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(_matches(e, labels) for e in selector.get("matchExpressions", []))


def _matches(expression: Mapping, labels: Mapping[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
    return {
        "Exists": key in labels,
        "DoesNotExist": key not in labels,
        "In": labels.get(key) in values,
        "NotIn": labels.get(key) not in values,
    }[operator]


def admitted(policies: list[dict], direction: str, pods: Pods, peer: Pods, port: int) -> bool:
    """Whether the policies that select `pods` for `direction` (Ingress/Egress) admit `peer` on `port`.

    Pods no policy selects for that direction are open; a peer must match a `podSelector` of the same
    namespace (ipBlocks do not name pods, and are not trusted to).
    """
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p["spec"]
        for p in policies
        if direction in p["spec"].get("policyTypes", []) and selects(p["spec"]["podSelector"], pods.labels)
    ]
    if not selecting:
        return True
    return any(
        _rule_admits(rule, peers_key, peer, port) for spec in selecting for rule in spec.get(rules_key, [])
    )


def _rule_admits(rule: Mapping, peers_key: str, peer: Pods, port: int) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("port") == port for p in ports):
        return False
    return any(
        "podSelector" in entry
        and "namespaceSelector" not in entry
        and selects(entry["podSelector"], peer.labels)
        for entry in rule.get(peers_key, [])
    )


def traverse(manifests: list[dict], upstreams: tuple[str, ...]) -> list[tuple[Hop, Pods | None, str]]:
    """Every hop from the gateway inwards, each with the pods it reaches (None: why not), graphs once each."""
    _, pending, _ = gateway_hops(manifests, upstreams)
    seen: set[str] = set()
    found = []
    while pending:
        hop = pending.pop(0)
        pods, graph, why = resolve(manifests, hop.url)
        found.append((hop, pods, why))
        if graph is not None and graph["metadata"]["name"] not in seen:
            seen.add(graph["metadata"]["name"])
            pending.extend(step_hops(graph))
    return found


def broken_hops(manifests: list[dict], upstreams: tuple[str, ...], unserved: set[str]) -> list[str]:
    """Every broken hop from the gateway inwards, one message each (empty when all resolve).

    Args:
        manifests: the rendered overlay.
        upstreams: the gateway's upstream names (`aiprime.gateway.config.UPSTREAMS`).
        unserved: upstreams that have no service on a cluster and must stay unset.
    """
    policies = list(of_kind(manifests, "NetworkPolicy").values())
    _, _, unset = gateway_hops(manifests, upstreams)
    problems = [f"gateway: the {name} upstream is unset (AIPRIME_GATEWAY_{name.upper()}_URL)" for name in
                sorted(set(unset) - unserved)]  # fmt: skip
    for hop, pods, why in traverse(manifests, upstreams):
        if pods is None:
            problems.append(f"{hop.caller.name} ({hop.via}) -> {hop.url}: {why}")
            continue
        for direction, own, other in (("Egress", hop.caller, pods), ("Ingress", pods, hop.caller)):
            if not admitted(policies, direction, own, other, pods.port):
                problems.append(
                    f"{hop.caller.name} ({hop.via}) -> {pods.name}:{pods.port}: no NetworkPolicy admits the "
                    f"{direction.lower()} of {own.name}"
                )
    return problems


def reached_graphs(manifests: list[dict], upstreams: tuple[str, ...]) -> set[str]:
    """The InferenceGraphs the gateway reaches, directly or through other graphs."""
    return {pods.name.removeprefix("InferenceGraph/") for _, pods, _ in traverse(manifests, upstreams)
            if pods is not None and pods.name.startswith("InferenceGraph/")}  # fmt: skip


def workloads(manifests: list[dict]) -> list[Pods]:
    """The pods of every workload in the render: Deployments, InferenceService predictors, graph routers."""
    pods = [
        Pods(f"Deployment/{name}", d["spec"]["template"]["metadata"]["labels"])
        for name, d in of_kind(manifests, "Deployment").items()
    ]
    pods += [isvc_pods(isvc) for isvc in of_kind(manifests, "InferenceService").values()]
    return pods + [graph_pods(graph) for graph in of_kind(manifests, "InferenceGraph").values()]


def unexpected_reach(manifests: list[dict], upstreams: tuple[str, ...]) -> list[str]:
    """Calls to a model server or a router that the NetworkPolicies admit but that no hop makes."""
    policies = list(of_kind(manifests, "NetworkPolicy").values())
    hops = {(hop.caller.name, pods.name) for hop, pods, _ in traverse(manifests, upstreams) if pods}
    callees = [p for p in workloads(manifests) if ISVC_LABEL in p.labels or GRAPH_LABEL in p.labels]
    return [
        f"{caller.name} -> {callee.name}:{callee.port} is admitted but no hop calls it"
        for caller in workloads(manifests)
        for callee in callees
        if (caller.name, callee.name) not in hops
        and admitted(policies, "Egress", caller, callee, callee.port)
        and admitted(policies, "Ingress", callee, caller, callee.port)
    ]
