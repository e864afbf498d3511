"""What exporting spans over OTLP adds to a request through the InferenceGraph router, measured in one run.

Starts, each in its own process on 127.0.0.1: the gate-like and expert-like servers of `router_overhead.py`,
an OTLP/HTTP sink (answers `POST /v1/traces` as MLflow and a Collector do, counting the spans), and two
routers serving the same top-1 graph (Sequence: gate, then a Switch over six experts):

- **off**: no tracer provider (what `aiprime router` runs without AIPRIME_OTLP_ENDPOINT or --trace-file);
- **on**: spans batched and exported over OTLP/HTTP (protobuf) to the sink, as `aiprime serve --trace` runs
  the router against MLflow (`aiprime.observability.export`).

The client sends the same requests to both, one at a time, alternating between them in chunks so that a change
in background load hits both alike, and prints p50/p99 of each, the p50 ratio and the milliseconds added.

Run: `python bench/tracing_overhead.py [--requests 2000]` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
from pathlib import Path

import httpx
import uvicorn
import yaml
from _loopback import free_port, wait_for
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from router_overhead import EXPERTS, PAYLOAD, WARMUP, _drive, _interleaved, _run_loop, _serve_app, top1_graph
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def sink_app() -> Starlette:
    """An OTLP/HTTP traces receiver that keeps only the count of spans it was sent."""
    received = {"spans": 0}

    async def export(request: Request) -> Response:
        batch = ExportTraceServiceRequest.FromString(await request.body())
        received["spans"] += sum(len(s.spans) for r in batch.resource_spans for s in r.scope_spans)
        return Response(b"", media_type="application/x-protobuf")

    async def count(_: Request) -> Response:
        return JSONResponse(received)

    return Starlette(routes=[Route("/v1/traces", export, methods=["POST"]), Route("/count", count)])


def _serve_sink(port: int) -> None:
    uvicorn.run(sink_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_router(graph_path: str, services_path: str, port: int, otlp_endpoint: str | None) -> None:
    from aiprime.observability.tracing import configure_tracing
    from aiprime.serving.graph import serve_router
    from aiprime.settings import Settings

    if otlp_endpoint:
        configure_tracing("router", None, Settings(otlp_endpoint=otlp_endpoint, _env_file=None))
    serve_router(graph_path, services_path, host="127.0.0.1", port=port)


async def _measure(urls: dict[str, str], requests: int):
    async with httpx.AsyncClient(timeout=30) as client:
        body = json.dumps(PAYLOAD).encode()
        headers = {"Content-Type": "application/json"}

        async def off() -> None:
            (await client.post(urls["off"], content=body, headers=headers)).raise_for_status()

        async def on() -> None:
            (await client.post(urls["on"], content=body, headers=headers)).raise_for_status()

        for call in (off, on):  # warm the connection pools
            await _drive(call, WARMUP, 1)
        return await _interleaved(off, on, requests, 1)


def main() -> None:
    """Start the servers, measure both routers, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per router")
    args = parser.parse_args()
    ports = {name: free_port() for name in ("gate", "expert", "sink", "off", "on")}
    services = {"gate": f"http://127.0.0.1:{ports['gate']}/v1/models/gate:predict"}
    services |= {
        f"expert-{e}": f"http://127.0.0.1:{ports['expert']}/v1/models/expert-{e}:predict" for e in EXPERTS
    }
    sink = f"http://127.0.0.1:{ports['sink']}"
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        graph_path, services_path = Path(tmp, "graph.yaml"), Path(tmp, "services.yaml")
        graph_path.write_text(yaml.safe_dump(top1_graph()))
        services_path.write_text(yaml.safe_dump(services))
        routers = {"off": None, "on": f"{sink}/v1/traces"}
        processes = [
            spawn.Process(target=_serve_app, args=("gate", ports["gate"]), daemon=True),
            spawn.Process(target=_serve_app, args=("expert", ports["expert"]), daemon=True),
            spawn.Process(target=_serve_sink, args=(ports["sink"],), daemon=True),
            *(
                spawn.Process(
                    target=_serve_router,
                    args=(str(graph_path), str(services_path), ports[name], endpoint),
                    daemon=True,
                )
                for name, endpoint in routers.items()
            ),
        ]
        for process in processes:
            process.start()
        try:
            _run(ports, sink, args.requests)
        finally:
            for process in processes:
                process.terminate()
                process.join(10)


def _run(ports: dict[str, int], sink: str, requests: int) -> None:
    for name, path in (("gate", "v2/health/ready"), ("expert", "v2/health/ready"), ("off", "healthz"),
                       ("on", "healthz"), ("sink", "count")):  # fmt: skip
        wait_for(f"http://127.0.0.1:{ports[name]}/{path}", name, 60)
    urls = {name: f"http://127.0.0.1:{ports[name]}/" for name in ("off", "on")}
    off, on = _run_loop(_measure(urls, requests))
    asyncio.run(asyncio.sleep(6))  # the batch processor exports about every 5 s
    spans = httpx.get(f"{sink}/count").json()["spans"]
    print(f"gate -> expert through the router, {requests} requests per router after {WARMUP} warm-up, one at")
    print(f"a time, the routers alternating; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"tracing off: p50 {off.p50:.3f} ms, p99 {off.p99:.3f} ms")
    print(f"OTLP export on: p50 {on.p50:.3f} ms, p99 {on.p99:.3f} ms ({spans} spans received by the sink)")
    print(f"p50 ratio {on.p50 / off.p50:.3f}x, added p50 {on.p50 - off.p50:+.3f} ms (target <= 0.5 ms)")


if __name__ == "__main__":
    main()
