"""The HTTP face of the local InferenceGraph router: a Starlette app and `serve_router` to run it.

Routes:
- `POST /` runs the `root` node (KServe's router serves the graph on `/`);
- `POST /{node}` runs one node of the graph (beyond KServe, for debugging a branch);
- `GET /healthz` and `GET /readyz` (KServe's readiness path) answer 200 while the router serves;
- `GET /metrics` exposes the Prometheus metrics.

Answers mirror KServe's `graphHandler`: the node's response body and status as they are (with
`Content-Type: application/json` when the body is JSON), or, when the graph failed,
`{"error": "Failed to process request", "cause": "..."}` with the failure's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from opentelemetry import context, trace
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aiprime.observability import tracing
from aiprime.observability.logs import bound_request_id, request_id_of
from aiprime.serving.bounded_http import HeaderBoundedHttpTools
from aiprime.serving.graph.config import RouterConfig
from aiprime.serving.graph.engine import FAILED, GraphExecutor
from aiprime.serving.graph.resilience import HealthBook, RouterPolicy, fallback_service_urls, policy_for
from aiprime.serving.graph.spec import ROOT, InferenceGraph, load_graph, load_services, service_urls
from aiprime.serving.graph.telemetry import RouterMetrics, tracer
from aiprime.serving.graph.upstream import Reply, Upstream, propagated_headers

log = logging.getLogger(__name__)

_DEFAULT_IDLE_S = 180  # KServe's router keeps idle connections for 3 minutes


class BoundedRouterHttp(HeaderBoundedHttpTools):
    """The router's HTTP protocol: request headers over `RouterConfig.max_header_bytes` are answered 431."""

    def refusal_body(self, limit: int) -> bytes:
        cause = (
            f"the request's headers exceed {limit} bytes (RouterConfig.max_header_bytes); "
            "send a shorter URL or fewer, smaller headers"
        )
        return json.dumps({"error": FAILED, "cause": cause}).encode()


def server_options(config: RouterConfig) -> dict[str, Any]:
    """The uvicorn options that bound the router's request headers (`uvicorn.Config` keywords)."""
    return {"http": BoundedRouterHttp, "h11_max_incomplete_event_size": config.max_header_bytes}


@dataclass(frozen=True)
class _Router:
    """Everything one request needs, built once when the app starts."""

    graph: InferenceGraph  # the graph served
    executor: GraphExecutor  # runs its nodes
    metrics: RouterMetrics  # the app's metrics
    patterns: tuple[re.Pattern[str], ...]  # header propagation patterns
    deadline_s: float | None  # the whole request's deadline
    max_body_bytes: int  # larger request bodies are answered 413


@dataclass(frozen=True)
class _Blueprint:
    """What `create_app` validated, waiting for the HTTP client that the app's lifespan opens."""

    graph: InferenceGraph  # the graph to serve
    urls: Mapping[str, str]  # serviceName -> URL
    config: RouterConfig  # router settings
    policies: Mapping[str, RouterPolicy]  # retries and avoidance of the graph and each peer, by graph name
    patterns: tuple[re.Pattern[str], ...]  # header propagation patterns
    metrics: RouterMetrics  # the app's metrics
    tracer_provider: trace.TracerProvider | None  # where spans go

    def client(self) -> aiohttp.ClientSession:
        """The pooled client for every upstream call. No client-wide timeout: steps set their own.

        aiohttp, not httpx: measured on loopback, an httpx.AsyncClient POST cost 0.93 ms of CPU and an
        aiohttp one 0.20 ms, and a top-1 graph makes two per request. Of its own headers aiohttp sends
        Host, Content-Length and `Accept: */*`; User-Agent and Accept-Encoding are left out.
        """
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections, limit_per_host=self.config.max_connections
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            auto_decompress=False,
        )

    def build(self, client: aiohttp.ClientSession) -> _Router:
        """Wire the executor (and one per graph it calls) to `client`."""
        rng = random.Random(self.config.seed)
        executor = self._executor(self.graph, client, rng, tracer(self.tracer_provider))
        deadline = self.config.graph_timeout_s or self.graph.timeout_s
        return _Router(
            self.graph, executor, self.metrics, self.patterns, deadline, self.config.max_body_bytes
        )

    def _executor(
        self, graph: InferenceGraph, client: aiohttp.ClientSession, rng: random.Random, tracer_: trace.Tracer
    ) -> GraphExecutor:
        policy = self.policies[graph.name]
        health = HealthBook(policy.avoidance, client) if policy.avoidance.enabled else None
        # RouterConfig.step_timeout_s overrides the served graph's limit only: each peer keeps its own.
        own_limit = self.config.step_timeout_s if graph is self.graph else None
        upstream = Upstream(
            client,
            self.metrics,
            timeout_s=own_limit or graph.service_client_timeout_s,
            unreachable_as_503=self.config.unreachable_as_503,
            health=health,
            rng=rng,
        )
        peers = {url: self._executor(peer, client, rng, tracer_) for url, peer in graph.peers.items()}
        return GraphExecutor(
            graph, self.urls, upstream, policy=policy, health=health, metrics=self.metrics,
            tracer=tracer_, rng=rng, peers=peers,
        )  # fmt: skip


def create_app(
    graph: InferenceGraph,
    services: Mapping[str, str],
    config: RouterConfig | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    registry: CollectorRegistry | None = None,
) -> Starlette:
    """Build the router app for a validated graph.

    Everything that can be wrong with the graph, the services mapping or the config is checked here, before
    the app serves: a `serviceName` missing from `services`, a bad router-policy annotation, a bad header
    pattern. Serve it with `server_options(config)`, which bounds request headers (431) before the app
    sees them; the app bounds bodies itself (413).

    Args:
        graph: the graph to serve (see `spec.load_graph`).
        services: `serviceName` -> URL (see `spec.load_services`).
        config: router settings; the defaults behave as KServe's router.
        tracer_provider: where spans go; None uses the global provider (a no-op unless configured).
        registry: where metrics are registered; None creates a fresh registry for this app.

    Raises:
        ConfigError: naming what is wrong and how to fix it.
    """
    config = config or RouterConfig()
    registry = registry or CollectorRegistry()
    policies = {g.name: policy_for(g, config.policy if g is graph else None) for g in graph.with_peers()}
    urls = service_urls(graph, services)
    for policy in policies.values():
        urls |= fallback_service_urls(policy, services)
    blueprint = _Blueprint(
        graph=graph,
        urls=urls,
        config=config,
        policies=policies,
        patterns=config.header_patterns(),
        metrics=RouterMetrics(registry),
        tracer_provider=tracer_provider,
    )
    holder: dict[str, _Router] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with blueprint.client() as client:
            holder["router"] = blueprint.build(client)
            try:
                yield
            finally:
                tracing.flush()

    async def run_node(request: Request) -> Response:
        return await _serve(holder["router"], request.path_params.get("node", ROOT), request)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/healthz", _healthy, methods=["GET"]),
        Route("/readyz", _healthy, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/", run_node, methods=["POST"]),
        Route("/{node}", run_node, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def load_app(
    graph_path: str | Path, services_path: str | Path | None, config: RouterConfig | None = None
) -> Starlette:
    """Load a graph and a services mapping from files and build the router app (see `create_app`)."""
    return create_app(load_graph(graph_path), load_services(services_path), config)


def serve_router(
    graph_path: str | Path,
    services_path: str | Path | None,
    host: str = "127.0.0.1",
    port: int = 8080,
    config: RouterConfig | None = None,
) -> None:
    """Serve an InferenceGraph on `host:port` until interrupted (what `aiprime router` runs).

    Args:
        graph_path: the InferenceGraph YAML.
        services_path: the YAML map of `serviceName` to URL; None when no step uses `serviceName`.
        host: interface to bind; keep the loopback default unless the router must be reachable from outside.
        port: port to bind (KServe's router uses 8080).
        config: router settings; the defaults behave as KServe's router.

    Raises:
        ConfigError: the graph, the services mapping or the config is invalid (raised before binding).
    """
    graph = load_graph(graph_path)
    config = config or RouterConfig()
    app = create_app(graph, load_services(services_path), config)
    idle = int(graph.server_idle_timeout_s or _DEFAULT_IDLE_S)
    uvicorn.Server(
        uvicorn.Config(  # log_config None: uvicorn keeps the process's JSON logging (`aiprime router` sets it)
            app,
            host=host,
            port=port,
            timeout_keep_alive=idle,
            access_log=False,
            log_level="info",
            log_config=None,
            **server_options(config),
        )
    ).run()


async def _serve(router: _Router, node: str, request: Request) -> Response:
    if node not in router.graph.nodes:
        nodes = sorted(router.graph.nodes)
        cause = f"node {node!r} is not in graph {router.graph.name!r}; POST to / or to one of {nodes}"
        return _failure(Reply(None, 404, cause))
    body = await _bounded_body(request, router.max_body_bytes)
    if body is None:
        cause = (
            f"the request body exceeds {router.max_body_bytes} bytes (RouterConfig.max_body_bytes); "
            "send fewer instances per request"
        )
        return _failure(Reply(None, 413, cause))
    incoming = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
    headers = propagated_headers(incoming, router.patterns)
    router.metrics.in_flight.inc()
    start = time.perf_counter()
    token = context.attach(tracing.extract(incoming))
    try:
        with bound_request_id(request_id_of(request.headers)):  # on the router's spans and its log line
            reply = await _run_with_deadline(router, node, body, headers)
            _log_request(node, reply, time.perf_counter() - start)  # in the caller's trace
    finally:
        context.detach(token)
        router.metrics.in_flight.dec()
    router.metrics.request_seconds.labels(node).observe(time.perf_counter() - start)
    router.metrics.requests.labels(node, str(reply.status)).inc()
    return _failure(reply) if reply.error else _success(reply)


def _log_request(node: str, reply: Reply, elapsed_s: float) -> None:
    """One JSON log line per graph request; the caller binds its request id (`aiprime logs --request`)."""
    log.log(
        logging.INFO if reply.ok else logging.WARNING,
        "graph request %s answered %d",
        node,
        reply.status,
        extra={
            "node": node,
            "status": reply.status,
            "duration_ms": round(elapsed_s * 1e3, 3),
            "error": reply.error,
        },
    )


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it (declared or received) exceeds `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _run_with_deadline(
    router: _Router, node: str, body: bytes, headers: list[tuple[str, str]]
) -> Reply:
    if router.deadline_s is None:
        return await router.executor.run(node, body, headers)
    try:
        async with asyncio.timeout(router.deadline_s):
            return await router.executor.run(node, body, headers)
    except TimeoutError:
        # On a cluster the deadline (spec.timeout) is enforced in front of the router, which answers 504.
        return Reply(None, 504, f"the graph did not answer within spec.timeout = {router.deadline_s:g} s")


def _success(reply: Reply) -> Response:
    body = reply.body or b""
    try:
        json.loads(body)
        media_type = "application/json"
    except ValueError:
        media_type = "text/plain; charset=utf-8"  # what Go's net/http sniffs for text
    return Response(body, status_code=reply.status, media_type=media_type)


def _failure(reply: Reply) -> Response:
    return JSONResponse({"error": FAILED, "cause": reply.error}, status_code=reply.status)


async def _healthy(_: Request) -> Response:
    return JSONResponse({"status": "ok"})
