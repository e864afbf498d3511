"""What the local InferenceGraph router adds to a gate -> expert call, measured in one run.

Starts, each in its own process on 127.0.0.1: a gate-like server (answers the gate's v1 response), an
expert-like server (echoes the expert's v1 response) and the router serving a top-1 graph (Sequence: gate,
then a Switch over six experts). Then, for each concurrency level, sends the same number of requests by
two paths, alternating between them in chunks so that a change in background load hits both alike:

- **direct**: the client calls the gate, reads its choice, and calls the expert with the gate's response
  (what the graph does, without the router);
- **router**: the client posts once to the router;

and prints p50/p99 latency, throughput, their ratios and the added milliseconds.

Run: `python bench/router_overhead.py [--requests 500] [--concurrency 1 8 32]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
import yaml
from _loopback import free_port, wait_for
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aiprime.moe.experts import domains
from aiprime.serving.names import route_name

EXPERTS = tuple(route_name(domain) for domain in domains())  # the registry's route names
PAYLOAD = {"instances": [{"text": "a dog runs across the field", "route": ["actions", "qualities"]}]}
WARMUP = 50
CHUNK = 50  # requests per alternation between the two paths


def gate_app() -> Starlette:
    """A gate stand-in: routes by the first instance's `route` hint."""

    async def predict(request: Request) -> Response:
        instances = json.loads(await request.body())["instances"]
        route = instances[0]["route"]
        record = {"instances": instances, "expert": route[0], "experts": route, "probabilities": [0.8, 0.15]}
        return JSONResponse({"predictions": [record]})

    return _app(predict)


def expert_app() -> Starlette:
    """An expert stand-in: answers its name and the gate's probability for it."""

    async def predict(request: Request) -> Response:
        name = request.path_params["model"].removeprefix("expert-")
        records = json.loads(await request.body())["predictions"]
        answers = [
            {"expert": name, "probability": r["probabilities"][0], "scores": {name: 1.0}} for r in records
        ]
        return JSONResponse({"predictions": answers})

    return _app(predict)


def _app(predict: Callable[[Request], Awaitable[Response]]) -> Starlette:
    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(
        routes=[
            Route("/v1/models/{model}:predict", predict, methods=["POST"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
        ]
    )


def top1_graph() -> dict:
    """The top-1 graph of kserve/graphs/top1.yaml, without timeouts."""
    switch = [
        {"name": e, "serviceName": f"expert-{e}", "condition": f'predictions.#(expert=="{e}")'}
        for e in EXPERTS
    ]
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "InferenceGraph",
        "metadata": {"name": "bench-top1"},
        "spec": {
            "nodes": {
                "root": {
                    "routerType": "Sequence",
                    "steps": [
                        {"name": "gate", "serviceName": "gate", "dependency": "Hard"},
                        {"name": "expert", "nodeName": "experts", "data": "$response", "dependency": "Hard"},
                    ],
                },
                "experts": {"routerType": "Switch", "steps": switch},
            }
        },
    }


def _serve_app(factory: str, port: int) -> None:
    app = {"gate": gate_app, "expert": expert_app}[factory]()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_router(graph_path: str, services_path: str, port: int) -> None:
    from aiprime.serving.graph import serve_router

    serve_router(graph_path, services_path, host="127.0.0.1", port=port)


@dataclass(frozen=True)
class Result:
    """Latencies of one (path, concurrency) run."""

    latencies_ms: list[float]  # one per request, sorted
    wall_s: float  # time to serve all requests

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return self.latencies_ms[min(len(self.latencies_ms) - 1, int(0.99 * len(self.latencies_ms)))]

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.wall_s


async def _drive(call: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> Result:
    latencies: list[float] = []
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(sorted(latencies), time.perf_counter() - start)


async def _measure(urls: dict[str, str], requests: int, concurrency: int) -> tuple[Result, Result]:
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        body = json.dumps(PAYLOAD).encode()
        headers = {"Content-Type": "application/json"}

        async def direct() -> None:
            gate = await client.post(urls["gate"], content=body, headers=headers)
            expert = json.loads(gate.content)["predictions"][0]["expert"]
            answer = await client.post(urls[f"expert-{expert}"], content=gate.content, headers=headers)
            answer.raise_for_status()

        async def routed() -> None:
            (await client.post(urls["router"], content=body, headers=headers)).raise_for_status()

        for call in (direct, routed):  # warm the connection pools
            await _drive(call, WARMUP, concurrency)
        return await _interleaved(direct, routed, requests, concurrency)


async def _interleaved(
    direct: Callable[[], Awaitable[None]],
    routed: Callable[[], Awaitable[None]],
    requests: int,
    concurrency: int,
) -> tuple[Result, Result]:
    """Alternate chunks of both paths, so that a change in background load hits both alike."""
    chunk = max(CHUNK, 4 * concurrency)
    runs: dict[str, list[Result]] = {"direct": [], "routed": []}
    for i in range(max(1, requests // chunk)):
        order = [("direct", direct), ("routed", routed)]
        for name, call in order if i % 2 == 0 else order[::-1]:
            runs[name].append(await _drive(call, chunk, concurrency))
    direct_result, routed_result = (_merge(runs[name]) for name in ("direct", "routed"))
    return direct_result, routed_result


def _merge(results: list[Result]) -> Result:
    return Result(sorted(ms for r in results for ms in r.latencies_ms), sum(r.wall_s for r in results))


def _run_loop(coroutine: Awaitable[tuple[Result, Result]]) -> tuple[Result, Result]:
    """Run on uvloop when installed (as uvicorn does for the servers), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _report(concurrency: int, direct: Result, routed: Result) -> str:
    return (
        f"{concurrency:>5} | {direct.p50:7.2f} {direct.p99:7.2f} {direct.throughput:8.0f} | "
        f"{routed.p50:7.2f} {routed.p99:7.2f} {routed.throughput:8.0f} | "
        f"{routed.p50 / direct.p50:5.2f}x {routed.p50 - direct.p50:+6.2f} ms "
        f"{routed.p99 - direct.p99:+7.2f} ms | "
        f"{routed.throughput / direct.throughput:5.2f}x"
    )


def main() -> None:
    """Start the servers, measure both paths at each concurrency, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="measured requests per path and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    args = parser.parse_args()
    ports = {name: free_port() for name in ("gate", "expert", "router")}
    urls = {"gate": f"http://127.0.0.1:{ports['gate']}/v1/models/gate:predict"}
    urls |= {
        f"expert-{e}": f"http://127.0.0.1:{ports['expert']}/v1/models/expert-{e}:predict" for e in EXPERTS
    }
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        graph_path, services_path = Path(tmp, "graph.yaml"), Path(tmp, "services.yaml")
        graph_path.write_text(yaml.safe_dump(top1_graph()))
        services_path.write_text(yaml.safe_dump(urls))
        processes = [
            spawn.Process(target=_serve_app, args=("gate", ports["gate"]), daemon=True),
            spawn.Process(target=_serve_app, args=("expert", ports["expert"]), daemon=True),
            spawn.Process(
                target=_serve_router, args=(str(graph_path), str(services_path), ports["router"]), daemon=True
            ),
        ]
        for process in processes:
            process.start()
        try:
            _run(urls | {"router": f"http://127.0.0.1:{ports['router']}/"}, ports, processes[2].pid, args)
        finally:
            for process in processes:
                process.terminate()
                process.join(10)


def _run(urls: dict[str, str], ports: dict[str, int], router_pid: int, args: argparse.Namespace) -> None:
    wait_for(f"http://127.0.0.1:{ports['gate']}/v2/health/ready", "the gate", 30)
    wait_for(f"http://127.0.0.1:{ports['expert']}/v2/health/ready", "the expert", 30)
    wait_for(f"http://127.0.0.1:{ports['router']}/healthz", "the router", 30)
    print(f"gate -> expert: {args.requests} requests per cell after {WARMUP} warm-up, the paths alternating")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; ms and req/s")
    print(
        "conc. |  direct p50     p99    req/s |  router p50     p99    req/s "
        "| p50 ratio, added p50, p99 | req/s | router CPU ms/req"
    )
    for concurrency in args.concurrency:
        cpu_before = _cpu_seconds(router_pid)
        direct, routed = _run_loop(_measure(urls, args.requests, concurrency))
        cpu_ms = (_cpu_seconds(router_pid) - cpu_before) * 1000 / (len(routed.latencies_ms) + WARMUP)
        print(f"{_report(concurrency, direct, routed)} | {cpu_ms:5.2f}")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc: unlike latency, barely moved by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
