"""Real HTTP servers on 127.0.0.1 for the router tests: a behaviour zoo upstream and routers under test."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from _helpers import AsgiServer, free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aiprime.serving.graph import InferenceGraph, RouterConfig, create_app, parse_graph


@dataclass
class ZooState:
    """What the zoo upstream saw, and its switches."""

    calls: Counter = field(default_factory=Counter)  # path -> number of requests
    ready: bool = True  # answer of GET /v2/health/ready
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> last request's headers

    def reset(self) -> None:
        self.calls.clear()
        self.headers.clear()
        self.ready = True


def zoo_app(state: ZooState) -> Starlette:
    """An upstream with one behaviour per path (see the route table at the end)."""

    async def seen(request: Request) -> Any:
        state.calls[request.url.path] += 1
        state.headers[request.url.path] = dict(request.headers)
        body = await request.body()
        return json.loads(body) if body else None

    async def echo(request: Request) -> Response:
        received = await seen(request)
        return JSONResponse({"tag": request.path_params["tag"], "received": received})

    async def status(request: Request) -> Response:
        await seen(request)
        code = request.path_params["code"]
        return JSONResponse({"error": f"status {code}"}, status_code=code)

    async def flaky(request: Request) -> Response:
        await seen(request)
        attempt = state.calls[request.url.path]
        if attempt <= request.path_params["failures"]:
            return JSONResponse({"error": "transient"}, status_code=503)
        return JSONResponse({"predictions": "ok", "attempt": attempt})

    async def slow(request: Request) -> Response:
        await seen(request)
        await asyncio.sleep(request.path_params["ms"] / 1000)
        return JSONResponse({"slept_ms": request.path_params["ms"]})

    async def text(request: Request) -> Response:
        await seen(request)
        return PlainTextResponse("not json")

    async def array(request: Request) -> Response:
        await seen(request)
        return JSONResponse([1, 2])

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": state.ready}, status_code=200 if state.ready else 503)

    return Starlette(
        routes=[
            Route("/echo/{tag}", echo, methods=["POST"]),
            Route("/status/{code:int}", status, methods=["POST"]),
            Route("/flaky/{key}/{failures:int}", flaky, methods=["POST"]),
            Route("/slow/{ms:int}", slow, methods=["POST"]),
            Route("/text", text, methods=["POST"]),
            Route("/array", array, methods=["POST"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
        ]
    )


@dataclass
class Zoo:
    """The running zoo upstream."""

    url: str
    state: ZooState

    def path(self, path: str) -> str:
        return f"{self.url}{path}"


@pytest.fixture(scope="session")
def _zoo_server() -> Iterator[Zoo]:
    state = ZooState()
    with AsgiServer(zoo_app(state)) as server:
        yield Zoo(server.url, state)


@pytest.fixture
def zoo(_zoo_server: Zoo) -> Zoo:
    """The zoo upstream, its counters reset for this test."""
    _zoo_server.state.reset()
    return _zoo_server


def graph_doc(
    nodes: dict[str, Any], name: str = "test-graph", annotations: dict | None = None, **spec: Any
) -> dict:
    """An InferenceGraph document holding `nodes` (and extra `spec` fields)."""
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "InferenceGraph",
        "metadata": metadata,
        "spec": {"nodes": nodes, **spec},
    }


RouterFactory = Callable[..., str]


@pytest.fixture
def router() -> Iterator[RouterFactory]:
    """Start a router for a graph document (or a loaded graph); returns its base URL. Stopped after the test."""
    stack: list[AsgiServer] = []

    def start(
        document: dict | InferenceGraph,
        services: dict[str, str] | None = None,
        config: RouterConfig | None = None,
        **app_kwargs: Any,
    ) -> str:
        graph = document if isinstance(document, InferenceGraph) else parse_graph(document)
        app = create_app(graph, services or {}, config, **app_kwargs)
        server = AsgiServer(app).__enter__()
        stack.append(server)
        return server.url

    yield start
    for server in reversed(stack):
        server.__exit__()


@pytest.fixture
def make_graph() -> Callable[..., dict]:
    """`graph_doc`: build an InferenceGraph document from nodes."""
    return graph_doc


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (a model server that is down)."""
    return free_port()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A pooled HTTP client for one test: its keep-alive connections must not outlive the routers they reach."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def port_factory() -> Callable[[], int]:
    """`free_port`, for fixtures wider than one test."""
    return free_port
