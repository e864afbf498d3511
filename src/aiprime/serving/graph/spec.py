"""A KServe `InferenceGraph` (serving.kserve.io/v1alpha1) as frozen dataclasses, loaded and validated.

The checks of KServe's validating webhook (`pkg/apis/serving/v1alpha1/inference_graph_validation.go`) are
repeated with its wording: a `root` node, unique step names, exactly one target per step, Splitter weights
present and summing to 100. On top of them this loader refuses, at start-up and naming the node and step,
graphs that KServe accepts but that can only fail or misbehave at request time:

- a `nodeName` that names no node, or a cycle of `nodeName` references (KServe recurses without end);
- a node without steps (an empty Sequence makes KServe write the invalid HTTP status 0);
- a GJSON `condition` outside the subset of `gjson.py`;
- a Switch step without `condition` (it can never match in KServe), a condition on the first step of a
  Sequence (KServe evaluates it against an empty previous response and always answers 500), and a
  condition on an Ensemble or Splitter step (KServe ignores it);
- a `data` other than `$request` or `$response` (KServe silently sends the node's input for any other value);
- a step field that the CRD does not define (the API server would prune it silently, e.g. a misspelt
  `dependancy`).

A `serviceUrl` of the form `http://<name>` calls, on a cluster, the Service KServe creates for the
InferenceGraph `<name>` in the same namespace. `load_graph` loads such a graph from a YAML file beside the
calling one (its *peer*), and the local router runs it as that graph's own router would, with its own
`routerTimeouts`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from aiprime.errors import ConfigError, InvalidInput
from aiprime.serving.graph import gjson

API_VERSION = "serving.kserve.io/v1alpha1"
KIND = "InferenceGraph"
ROOT = "root"
_GRAPH_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")  # KServe's GraphNameFmt
_STEP_FIELDS = frozenset(
    {"name", "nodeName", "serviceName", "serviceUrl", "data", "weight", "condition", "dependency",
     "mapPredictionsToInstances"}
)  # fmt: skip
_DATA_VALUES = ("", "$request", "$response")


class RouterType(StrEnum):
    """How a node routes its input to its steps."""

    SEQUENCE = "Sequence"
    SPLITTER = "Splitter"
    ENSEMBLE = "Ensemble"
    SWITCH = "Switch"


class Dependency(StrEnum):
    """Whether a failing step fails its node (`Hard`) or not (`Soft`, and unset)."""

    SOFT = "Soft"
    HARD = "Hard"


@dataclass(frozen=True)
class Target:
    """Where a step sends its request: exactly one of the three fields is set."""

    node_name: str = ""  # another node of this graph
    service_name: str = ""  # an InferenceService, resolved through the services mapping
    service_url: str = ""  # a URL called as written

    def describe(self) -> str:
        """The target as it reads in YAML, e.g. `serviceName: gate`."""
        if self.node_name:
            return f"nodeName: {self.node_name}"
        if self.service_name:
            return f"serviceName: {self.service_name}"
        return f"serviceUrl: {self.service_url}"


@dataclass(frozen=True)
class Step:
    """One step of a node."""

    index: int  # position in the node's `steps`
    name: str  # `name`, "" when unnamed
    target: Target  # where the request goes
    data: str  # "", "$request" or "$response" (Sequence only)
    condition: gjson.Path | None  # Sequence: on the previous response; Switch: on the node's input
    weight: int | None  # Splitter only
    dependency: Dependency | None  # None behaves as Soft
    map_predictions_to_instances: bool  # rename `predictions` to `instances` in this step's request

    @property
    def key(self) -> str:
        """The step's name, or its index when unnamed: KServe's key in an Ensemble response."""
        return self.name or str(self.index)

    @property
    def hard(self) -> bool:
        """Whether a non-2xx answer from this step ends its node."""
        return self.dependency is Dependency.HARD


@dataclass(frozen=True)
class Node:
    """A router node: a routing type and its steps."""

    name: str  # the key in `spec.nodes`
    router_type: RouterType  # Sequence, Splitter, Ensemble or Switch
    steps: tuple[Step, ...]  # in YAML order


@dataclass(frozen=True)
class InferenceGraph:
    """A validated InferenceGraph."""

    name: str  # metadata.name
    nodes: Mapping[str, Node]  # read-only, keyed by node name; always holds `root`
    timeout_s: float | None  # spec.timeout: the whole request's deadline
    service_client_timeout_s: float | None  # spec.routerTimeouts.serviceClient: each step call's limit
    server_idle_timeout_s: float | None  # spec.routerTimeouts.serverIdle: keep-alive of the router
    annotations: Mapping[str, str]  # metadata.annotations (holds the optional router policy)
    peers: Mapping[str, InferenceGraph] = dataclasses.field(
        default_factory=dict
    )  # serviceUrl -> the graph it calls

    def steps(self) -> list[tuple[Node, Step]]:
        """Every (node, step) pair, nodes in YAML order."""
        return [(node, step) for node in self.nodes.values() for step in node.steps]

    def with_peers(self) -> list[InferenceGraph]:
        """This graph and every graph it calls, directly or through other graphs, each once."""
        found = {self.name: self}
        pending = list(self.peers.values())
        while pending:
            peer = pending.pop()
            if peer.name not in found:
                found[peer.name] = peer
                pending.extend(peer.peers.values())
        return list(found.values())


def load_graph(path: str | Path) -> InferenceGraph:
    """Read and validate an InferenceGraph YAML file.

    Args:
        path: the YAML file, e.g. `kserve/graphs/top1.yaml`.

    Returns:
        The validated graph.

    Raises:
        ConfigError: the file is missing, is not YAML, or is not a valid InferenceGraph, or a graph it calls
            (a peer beside it) is not, or graphs call each other in a cycle.
    """
    return _load_with_peers(Path(path), ())


def graph_host(url: str) -> str | None:
    """The graph name a `serviceUrl` of the form `http://<name>[/...]` calls (a Service in the same
    namespace), or None for any other URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""  # "" for nodeName and serviceName steps: no graph
    return host if parts.port is None and _GRAPH_NAME.fullmatch(host) else None


def _load_with_peers(path: Path, calling: tuple[str, ...]) -> InferenceGraph:
    graph = parse_graph(_read_yaml(path, "InferenceGraph"), source=str(path))
    if graph.name in calling:
        raise ConfigError(
            f"{path}: graphs call each other in a cycle ({' -> '.join((*calling, graph.name))}); a graph "
            "cannot call itself, even through another graph."
        )
    calls = {s.target.service_url: graph_host(s.target.service_url) for _, s in graph.steps()}
    siblings = _graph_files_by_name(path.parent) if any(calls.values()) else {}
    peers = {
        url: _load_with_peers(siblings[name], (*calling, graph.name))
        for url, name in calls.items()
        if name in siblings
    }
    return replace(graph, peers=MappingProxyType(peers))


def _graph_files_by_name(folder: Path) -> dict[str, Path]:
    """The InferenceGraph YAML files in `folder`, by metadata.name (other YAML files are skipped)."""
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(document, Mapping) and document.get("kind") == KIND:
            found[str((document.get("metadata") or {}).get("name"))] = path
    return found


def parse_graph(document: Any, source: str = "<graph>") -> InferenceGraph:
    """Validate a decoded InferenceGraph document (the YAML as dicts) into an `InferenceGraph`.

    Raises:
        ConfigError: naming `source`, the node and the step at fault, and the fix.
    """
    spec = _check_header(document, source)
    raw_nodes = _mapping(spec.get("nodes"), f"{source}: spec.nodes", "a map of node name to node")
    if ROOT not in raw_nodes:
        raise ConfigError(
            f"{source}: root node not found, InferenceGraph needs a node with name 'root' as the root node "
            "of the graph; rename the entry node to 'root'."
        )
    nodes = {name: _parse_node(name, raw, source) for name, raw in raw_nodes.items()}
    _check_references(nodes, source)
    timeouts = spec.get("routerTimeouts") or {}
    if not isinstance(timeouts, Mapping):
        raise ConfigError(
            f"{source}: spec.routerTimeouts must be a map of timeouts in seconds, got {timeouts!r}."
        )
    metadata = document.get("metadata") or {}
    return InferenceGraph(
        name=metadata["name"],
        nodes=MappingProxyType(nodes),
        timeout_s=_seconds(spec.get("timeout"), f"{source}: spec.timeout"),
        service_client_timeout_s=_seconds(timeouts.get("serviceClient"), f"{source}: serviceClient"),
        server_idle_timeout_s=_seconds(timeouts.get("serverIdle"), f"{source}: serverIdle"),
        annotations=MappingProxyType(
            {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
        ),
    )


def load_services(path: str | Path | None) -> Mapping[str, str]:
    """Read the services mapping: a YAML map of `serviceName` to the URL that KServe would resolve it to.

    A graph whose steps all use `serviceUrl` needs none: `path` None (or an empty file) is an empty mapping.

    On a cluster KServe's controller resolves a `serviceName` to the InferenceService's predict endpoint
    (`<status.address.url>/v1/models/<model>:predict`); locally there is no cluster DNS, so each name maps
    to such a URL explicitly, e.g. `gate: http://127.0.0.1:8081/v1/models/gate:predict`.

    Raises:
        ConfigError: the file is missing or not a map of names to http(s) URLs.
    """
    if path is None:
        return MappingProxyType({})
    document = _read_yaml(Path(path), "services mapping")
    if document is None:
        return MappingProxyType({})
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path} must be a map of serviceName to URL, got {document!r}.")
    services = document
    for name, url in services.items():
        if (
            not isinstance(url, str)
            or urlsplit(url).scheme not in ("http", "https")
            or not urlsplit(url).netloc
        ):
            raise ConfigError(
                f"{path}: service {name!r} maps to {url!r}; give an http(s) URL such as "
                f"http://127.0.0.1:8081/v1/models/{name}:predict."
            )
    return MappingProxyType({str(name): url for name, url in services.items()})


def service_urls(
    graph: InferenceGraph, services: Mapping[str, str], source: str = "the services mapping"
) -> dict[str, str]:
    """The URL of every `serviceName` the graph and the graphs it calls use.

    Raises:
        ConfigError: one line naming the first `serviceName` that `services` does not map, and its step.
    """
    urls = {}
    for called in graph.with_peers():
        for node, step in called.steps():
            name = step.target.service_name
            if name and name not in services:
                raise ConfigError(
                    f"Unknown serviceName {name!r} (graph {called.name!r}, {step_label(node.name, step)}): "
                    f"{source} does not map it; add '{name}: http://127.0.0.1:<port>/v1/models/{name}:predict' "
                    "to the file passed as --services."
                )
            if name:
                urls[name] = services[name]
    return urls


def step_label(node_name: str, step: Step) -> str:
    """How errors name a step: `node 'root' step 1 ("gate")`."""
    return f"node {node_name!r} step {step.index}" + (f" ({step.name!r})" if step.name else "")


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}. Pass the path of an existing YAML file.")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML ({e}); fix the syntax and start again.") from e


def _mapping(value: Any, where: str, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where} must be {expected}, got {value!r}.")
    return value


def _check_header(document: Any, source: str) -> Mapping[str, Any]:
    document = _mapping(document, source, f"an {KIND} document")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != KIND:
        raise ConfigError(
            f"{source}: expected apiVersion {API_VERSION} and kind {KIND}, got "
            f"{document.get('apiVersion')!r} and {document.get('kind')!r}."
        )
    name = (document.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not _GRAPH_NAME.fullmatch(name):
        raise ConfigError(
            f"{source}: the InferenceGraph name {name!r} is invalid; use lower case alphanumerics and '-', "
            "starting with a letter (e.g. 'moe-top1')."
        )
    return _mapping(document.get("spec"), f"{source}: spec", "a map holding 'nodes'")


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where} must be a positive whole number of seconds, got {value!r}.")
    return float(value)


def _parse_node(name: str, raw: Any, source: str) -> Node:
    raw = _mapping(raw, f"{source}: node {name!r}", "a map with routerType and steps")
    try:
        router_type = RouterType(raw.get("routerType"))
    except ValueError as e:
        choices = ", ".join(t.value for t in RouterType)
        raise ConfigError(
            f"{source}: node {name!r} has routerType {raw.get('routerType')!r}; use {choices}."
        ) from e
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{source}: node {name!r} has no steps; give it at least one step.")
    steps = tuple(_parse_step(name, router_type, i, s, source) for i, s in enumerate(raw_steps))
    _check_unique_names(name, steps, source)
    if router_type is RouterType.SPLITTER:
        _check_weights(name, steps, source)
    return Node(name, router_type, steps)


def _parse_step(node: str, router_type: RouterType, index: int, raw: Any, source: str) -> Step:
    where = f"{source}: node {node!r} step {index}"
    raw = _mapping(raw, where, "a map")
    unknown = sorted(set(raw) - _STEP_FIELDS)
    if unknown:
        raise ConfigError(f"{where} has unknown fields {unknown}; the CRD defines {sorted(_STEP_FIELDS)}.")
    name = _text(raw, "name", where)
    where += f" ({name!r})" if name else ""
    target = Target(
        _text(raw, "nodeName", where), _text(raw, "serviceName", where), _text(raw, "serviceUrl", where)
    )
    _check_target(target, where)
    return Step(
        index=index,
        name=name,
        target=target,
        data=_data(raw, where),
        condition=_condition(raw, router_type, index, where),
        weight=_weight(raw.get("weight"), where),
        dependency=_dependency(raw.get("dependency"), where),
        map_predictions_to_instances=_flag(raw.get("mapPredictionsToInstances"), where),
    )


def _text(raw: Mapping[str, Any], field: str, where: str) -> str:
    value = raw.get(field, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {field} must be a string, got {value!r}.")
    return value


def _check_target(target: Target, where: str) -> None:
    count = sum(bool(field) for field in (target.node_name, target.service_name, target.service_url))
    if count == 0:
        raise ConfigError(
            f"{where} does not specify an inference target; set one of nodeName, serviceName, serviceUrl."
        )
    if count > 1:
        raise ConfigError(f"{where} specifies more than one of nodeName, serviceName, serviceUrl; keep one.")
    url = urlsplit(target.service_url) if target.service_url else None
    if url is not None and (url.scheme not in ("http", "https") or not url.netloc):
        raise ConfigError(f"{where}: serviceUrl {target.service_url!r} is not an http(s) URL.")


def _data(raw: Mapping[str, Any], where: str) -> str:
    data = _text(raw, "data", where)
    if data not in _DATA_VALUES:
        raise ConfigError(
            f"{where}: data {data!r} is not supported; KServe's router only honours '$response' (and "
            "sends the node's input for anything else), so write '$response' or '$request'."
        )
    return data


def _condition(raw: Mapping[str, Any], router_type: RouterType, index: int, where: str) -> gjson.Path | None:
    expression = _text(raw, "condition", where)
    if not expression:
        if router_type is RouterType.SWITCH:
            raise ConfigError(
                f"{where} has no condition, so it can never match in a Switch; add one (for a default "
                "branch, a path that always exists, such as 'predictions.#')."
            )
        return None
    if router_type in (RouterType.ENSEMBLE, RouterType.SPLITTER):
        raise ConfigError(
            f"{where}: KServe ignores conditions in a {router_type} node; remove the condition."
        )
    if router_type is RouterType.SEQUENCE and index == 0:
        raise ConfigError(
            f"{where}: a condition on the first step of a Sequence is evaluated against an empty previous "
            "response, so KServe always answers 500; put the condition in a Switch node instead."
        )
    try:
        return gjson.parse(expression)
    except InvalidInput as e:
        raise ConfigError(f"{where}: condition {expression!r} is not supported. {e}") from e


def _weight(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ConfigError(f"{where}: weight must be a whole number from 0 to 100, got {value!r}.")
    return value


def _dependency(value: Any, where: str) -> Dependency | None:
    if value is None:
        return None
    try:
        return Dependency(value)
    except ValueError as e:
        raise ConfigError(f"{where}: dependency {value!r} is neither 'Soft' nor 'Hard'.") from e


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: mapPredictionsToInstances must be true or false, got {value!r}.")
    return value


def _check_unique_names(node: str, steps: tuple[Step, ...], source: str) -> None:
    seen: set[str] = set()
    for step in steps:
        if step.name and step.name in seen:
            raise ConfigError(
                f"{source}: node {node!r} contains more than one step with name {step.name!r}; rename one."
            )
        seen.add(step.name)


def _check_weights(node: str, steps: tuple[Step, ...], source: str) -> None:
    for step in steps:
        if step.weight is None:
            raise ConfigError(f"{source}: {step_label(node, step)} of a Splitter is missing the 'weight'.")
    total = sum(step.weight or 0 for step in steps)
    if total != 100:
        raise ConfigError(
            f"{source}: node {node!r} splitter node: the sum of traffic weights for all routing targets "
            f"should be 100, got {total}; adjust the weights."
        )


def _check_references(nodes: Mapping[str, Node], source: str) -> None:
    for node in nodes.values():
        for step in node.steps:
            if step.target.node_name and step.target.node_name not in nodes:
                raise ConfigError(
                    f"{source}: {step_label(node.name, step)} refers to node {step.target.node_name!r}, "
                    f"which the graph does not define; the nodes are {sorted(nodes)}."
                )
    for name in nodes:
        _check_acyclic(name, nodes, (), source)


def _check_acyclic(name: str, nodes: Mapping[str, Node], trail: tuple[str, ...], source: str) -> None:
    if name in trail:
        cycle = " -> ".join((*trail[trail.index(name) :], name))
        raise ConfigError(
            f"{source}: the nodes form a cycle ({cycle}); a node cannot call itself, even indirectly."
        )
    for step in nodes[name].steps:
        if step.target.node_name:
            _check_acyclic(step.target.node_name, nodes, (*trail, name), source)
