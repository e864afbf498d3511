"""Runs an InferenceGraph node by node as KServe's router does (`routeStep` in cmd/router/main.go).

- **Sequence**: steps in order. A step sends the previous step's response when `data: $response` (from the
  second step on), else the node's input. A step's `condition` is evaluated on the previous response: an
  invalid JSON previous response fails the graph with 500 ("invalid response"); an unmet condition ends the
  node, answering the previous response with 200. A failing (non-2xx) `Hard` step ends the node with its
  own response and status; a failing `Soft` (or unset) step does not, so the next step runs (and with
  `$response` receives the error body). The node answers the last step's response *and status*.
- **Switch**: the first step whose condition resolves in the node's input runs; its response and status
  are the node's. No match (or an input that is not JSON) fails with 404 "None of the routes matched with
  the switch condition".
- **Ensemble**: all steps run concurrently on the node's input; the answer is a JSON object keyed by step
  name, or index when unnamed, each value the step's decoded response. A response that is not a JSON object
  fails the graph with 500. The first `Hard` step (in step order) with a non-2xx status ends the node with
  that step's response and status; `Soft` failures are kept in the object; otherwise the status is 200.
- **Splitter**: one step, drawn with probability weight/100.

A transport error in any step (connection refused, timeout) fails the whole graph with 500, whatever the
dependency, and so does any error of a nested node (a nested Switch's 404 arrives as 500, as in KServe).

A step whose `serviceUrl` calls another graph (a *peer*, see `spec.load_graph`) runs that graph here, as
its own router would: with its own `routerTimeouts`, answering a failure as KServe's `graphHandler` does
(`{"error": "Failed to process request", "cause": ...}` with the failure's status). That answer is an
HTTP answer, not a transport error, so a `Soft` step's failure can be fallen back from; only the calling
graph's own `serviceClient` limit on the whole call is a transport error.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from aiprime.serving.graph.resilience import HealthBook, RouterPolicy
from aiprime.serving.graph.spec import ROOT, InferenceGraph, Node, RouterType, Step, Target
from aiprime.serving.graph.telemetry import RouterMetrics
from aiprime.serving.graph.upstream import Headers, Reply, Upstream

NO_ROUTE = "None of the routes matched with the switch condition"
FAILED = "Failed to process request"  # KServe's graphHandler message
_INVALID = object()  # what `_decode` returns for bytes that are not JSON


class GraphExecutor:
    """Executes nodes of one graph; one instance serves every request of a router."""

    def __init__(
        self,
        graph: InferenceGraph,
        service_urls: Mapping[str, str],
        upstream: Upstream,
        *,
        policy: RouterPolicy,
        health: HealthBook | None,
        metrics: RouterMetrics,
        tracer: trace.Tracer,
        rng: random.Random,
        peers: Mapping[str, GraphExecutor] | None = None,
    ) -> None:
        """Bind the graph to its callers.

        Args:
            graph: the validated graph.
            service_urls: URL of each `serviceName` (see `spec.service_urls`).
            upstream: the HTTP caller.
            policy: retries and avoidance (both off by default).
            health: target bookkeeping, required when avoidance is on.
            metrics: the router's metrics.
            tracer: spans per node and step are started with it.
            rng: the Splitter's source of random numbers.
            peers: the executor of each graph a `serviceUrl` calls (see `InferenceGraph.peers`), by URL.
        """
        self._graph = graph
        self._urls = service_urls
        self._upstream = upstream
        self._policy = policy
        self._health = health
        self._metrics = metrics
        self._tracer = tracer
        self._rng = rng
        self._peers = dict(peers or {})

    async def run(self, node_name: str, body: bytes, headers: Headers) -> Reply:
        """Run one node of the graph (the router runs `root`) on a request body."""
        node = self._graph.nodes[node_name]
        with self._tracer.start_as_current_span(f"node {node_name}", attributes=_node_attributes(node)):
            start = time.perf_counter()
            reply = await self._route(node, body, headers)
            self._metrics.node_seconds.labels(node_name).observe(time.perf_counter() - start)
            return reply

    async def _route(self, node: Node, body: bytes, headers: Headers) -> Reply:
        if node.router_type is RouterType.SEQUENCE:
            return await self._sequence(node, body, headers)
        if node.router_type is RouterType.ENSEMBLE:
            return await self._ensemble(node, body, headers)
        step = (
            self._pick_by_weight(node)
            if node.router_type is RouterType.SPLITTER
            else _pick_by_condition(node, body)
        )
        if step is None:
            return Reply(None, 404, NO_ROUTE)
        reply = await self._execute(node, step, body, headers)
        return Reply(None, 500, reply.error) if reply.error else reply

    async def _sequence(self, node: Node, body: bytes, headers: Headers) -> Reply:
        previous: Reply | None = None
        for step in node.steps:
            request = previous.body if step.data == "$response" and previous is not None else body
            if step.condition is not None:
                document = _decode(previous.body if previous else None)
                if document is _INVALID:
                    return Reply(None, 500, "invalid response")
                if not step.condition.exists(document):
                    return Reply(previous.body if previous else None, 200)
            previous = await self._execute(node, step, request or b"", headers)
            if previous.error:
                return Reply(None, 500, previous.error)
            if step.hard and not previous.ok:
                return previous
        assert previous is not None, f"node {node.name!r} has no steps"
        return previous

    async def _ensemble(self, node: Node, body: bytes, headers: Headers) -> Reply:
        replies = await asyncio.gather(*(self._execute(node, step, body, headers) for step in node.steps))
        merged: dict[str, Any] = {}
        for step, reply in zip(node.steps, replies, strict=True):
            if reply.error:
                return Reply(None, 500, reply.error)
            decoded = _decode(reply.body)
            if decoded is not None and not isinstance(decoded, dict):
                return Reply(
                    None, 500, f"step {step.key!r} of Ensemble {node.name!r} did not answer a JSON object"
                )
            if step.hard and not reply.ok:
                return Reply(_encode(decoded), reply.status)
            merged[step.key] = decoded
        return Reply(_encode(merged), 200)

    def _pick_by_weight(self, node: Node) -> Step | None:
        # KServe draws from [0, 100] (big.NewInt(101)): a draw of 100 selects nothing and its handler
        # panics. Drawing from [0, 100) gives each step exactly weight/100.
        point, end = self._rng.randrange(100), 0
        for step in node.steps:
            end += step.weight or 0
            if point < end:
                return step
        return None

    async def _execute(self, node: Node, step: Step, body: bytes, headers: Headers) -> Reply:
        label = (node.name, step.key)
        with self._tracer.start_as_current_span(f"step {node.name}/{step.key}") as span:
            start = time.perf_counter()
            target = await self._choose_target(node, step)
            if step.map_predictions_to_instances:
                body = _predictions_to_instances(body)
            if target.node_name:
                reply = await self.run(target.node_name, body, headers)
            elif target.service_url in self._peers:
                reply = await self._call_peer(target.service_url, body, headers)
            else:
                reply = await self._call(node, step, target, body, headers)
            self._metrics.step_seconds.labels(*label).observe(time.perf_counter() - start)
            _record_outcome(span, reply, target, self._metrics, label)
            return reply

    async def _choose_target(self, node: Node, step: Step) -> Target:
        fallback = self._policy.avoidance.fallback_for(node.name, step.key)
        if fallback is None or self._health is None:
            return step.target
        if await self._health.available(self._url(step.target)):
            return step.target
        self._metrics.fallbacks.labels(node.name, step.key).inc()
        trace.get_current_span().add_event("fallback", {"target": fallback.describe()})
        return fallback

    async def _call(self, node: Node, step: Step, target: Target, body: bytes, headers: Headers) -> Reply:
        retry = self._policy.retry if self._policy.retry.covers(node.name, step.key) else None
        return await self._upstream.call(
            self._url(target), body, headers, label=(node.name, step.key), retry=retry,
            via_gateway=bool(target.service_name),
        )  # fmt: skip

    async def _call_peer(self, url: str, body: bytes, headers: Headers) -> Reply:
        """What the peer graph's router at `url` answers, within this graph's `serviceClient` limit."""
        limit = self._upstream.timeout_s
        try:
            async with asyncio.timeout(limit):
                reply = await self._peers[url].run(ROOT, body, headers)
        except TimeoutError:
            return Reply(None, 500, f"Post {url!r}: timeout (routerTimeouts.serviceClient {limit:g} s)")
        return Reply(failure_body(reply.error), reply.status) if reply.error else reply

    def _url(self, target: Target) -> str:
        return self._urls[target.service_name] if target.service_name else target.service_url


def failure_body(cause: str) -> bytes:
    """The JSON a router answers when its graph failed (KServe's `InferenceGraphRoutingError`)."""
    return json.dumps({"error": FAILED, "cause": cause}).encode()


def _pick_by_condition(node: Node, body: bytes) -> Step | None:
    document = _decode(body)
    if document is _INVALID:
        return None
    return next((step for step in node.steps if step.condition and step.condition.exists(document)), None)


def _decode(body: bytes | None) -> Any:
    """The JSON in `body`, or `_INVALID` when it is not strictly valid JSON (gjson.ValidBytes)."""
    if not body:
        return _INVALID
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        return _INVALID


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _encode(document: Any) -> bytes:
    """Compact JSON with sorted keys, as Go's `json.Marshal` of a map writes it."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _predictions_to_instances(body: bytes) -> bytes:
    """`mapPredictionsToInstances`: a request's `predictions` becomes its `instances`; other bodies pass."""
    document = _decode(body)
    if not isinstance(document, dict) or "predictions" not in document:
        return body
    kept = {key: value for key, value in document.items() if key not in ("predictions", "instances")}
    return json.dumps({**kept, "instances": document["predictions"]}).encode()


def _node_attributes(node: Node) -> dict[str, str]:
    return {"aiprime.graph.node": node.name, "aiprime.graph.router_type": node.router_type.value}


def _record_outcome(
    span: trace.Span, reply: Reply, target: Target, metrics: RouterMetrics, label: tuple[str, str]
) -> None:
    span.set_attribute("aiprime.graph.target", target.describe())
    span.set_attribute("http.response.status_code", reply.status)
    if reply.error or not reply.ok:
        metrics.step_errors.labels(*label, "transport" if reply.error else "status").inc()
    if reply.error or reply.status >= 500:
        span.set_status(trace.Status(trace.StatusCode.ERROR, reply.error or f"HTTP {reply.status}"))
