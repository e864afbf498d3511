"""The shipped fallback graph under load with one expert killed and one hung: nothing lost, latency bounded.

Starts the test suite's KServe stand-ins (`tests/serving/graph/moe_models.py`), a server that accepts
connections and never answers (the hung expert, `expert-actions`), and a second stand-ins process serving
`expert-qualities`, killed (SIGKILL) a third into the run. Serves `kserve/graphs/fallback.yaml` with `aiprime router` in its own
process, then runs `--clients` concurrent clients for `--seconds`, each request routed by the stand-in gate
to one of four cases: a healthy first choice, the hung one, the killed one, or the hung one with the killed
one second (the generalist answers). Prints, per case and overall: requests, lost ones (anything but a 200
from an expert), p50 / p99 / max latency, and p99 over the first choice's per-hop limit
(`routerTimeouts.serviceClient` of `fallback-first-choice.yaml`).

Run: `python bench/router_under_faults.py [--clients 32] [--seconds 30]` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from subprocess import DEVNULL

import httpx
import yaml
from _loopback import free_port, wait_for

from aiprime.moe.experts import EXPERTS
from aiprime.serving.graph import load_graph
from aiprime.serving.names import service_name

GRAPHS = Path("kserve/graphs")
STAND_INS = Path("tests/serving/graph/moe_models.py")
CASES = {  # case -> the gate's route for it (first choice, second choice)
    "healthy": ["living", "artifacts"],
    "first hung": ["actions", "living"],
    "first killed": ["qualities", "living"],  # killed a third into the run
    "hung, then killed": ["actions", "qualities"],
}


def hang_forever() -> int:
    """A server that accepts every connection and never answers; its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1]


async def client(http: httpx.AsyncClient, url: str, index: int, until: float, results: dict) -> None:
    names = list(CASES)
    sent = index
    while time.monotonic() < until:
        case = names[sent % len(names)]
        sent += 1
        body = {"instances": [{"text": "a dog", "route": CASES[case], "probs": [0.7, 0.3]}]}
        start = time.perf_counter()
        try:
            answer = await http.post(url, json=body)
            ok = answer.status_code == 200 and "expert" in answer.json()["predictions"][0]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
            ok = False
        results[case].append((time.perf_counter() - start, ok))


async def load(url: str, clients: int, seconds: float) -> dict:
    results: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        until = time.monotonic() + seconds
        await asyncio.gather(*(client(http, url, i, until, results) for i in range(clients)))
    return results


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: dict, hop_s: float) -> None:
    rows = [*results.items(), ("all", [r for case in results.values() for r in case])]
    print(f"{'case':<18} {'requests':>8} {'lost':>5} {'p50 s':>7} {'p99 s':>7} {'max s':>7} {'p99/hop':>8}")
    for case, found in rows:
        latencies = [t for t, _ in found]
        lost = sum(not ok for _, ok in found)
        p99 = quantile(latencies, 0.99)
        print(
            f"{case:<18} {len(found):>8} {lost:>5} {quantile(latencies, 0.5):>7.3f} {p99:>7.3f} "
            f"{max(latencies):>7.3f} {p99 / hop_s:>8.2f}"
        )
    print(f"the first choice's per-hop limit (routerTimeouts.serviceClient): {hop_s:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    stand_port, router_port = free_port(), free_port()
    url = f"http://127.0.0.1:{stand_port}"
    names = ["gate", "combiner", *(service_name("expert", spec.domain) for spec in EXPERTS)]
    services = {name: f"{url}/v1/models/{name}:predict" for name in names}
    services["expert-actions"] = f"http://127.0.0.1:{hang_forever()}/v1/models/hung:predict"
    doomed_port = free_port()
    services["expert-qualities"] = f"http://127.0.0.1:{doomed_port}/v1/models/expert-qualities:predict"
    services_file = Path(f"/tmp/aiprime-bench-services-{router_port}.yaml")
    services_file.write_text(yaml.safe_dump(services))
    stand_ins, doomed = (
        subprocess.Popen([sys.executable, str(STAND_INS), str(port)], stdout=DEVNULL, stderr=DEVNULL)
        for port in (stand_port, doomed_port)
    )
    router = subprocess.Popen(
        [str(Path(sys.executable).parent / "aiprime"), "router", "--graph", str(GRAPHS / "fallback.yaml"),
         "--services", str(services_file), "--port", str(router_port)],
        stdout=DEVNULL, stderr=DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"{url}/v2/health/ready", "the stand-ins")
        wait_for(f"http://127.0.0.1:{doomed_port}/v2/health/ready", "the stand-ins to kill")
        wait_for(f"http://127.0.0.1:{router_port}/healthz", "the router")
        threading.Timer(args.seconds / 3, doomed.kill).start()
        results = asyncio.run(load(f"http://127.0.0.1:{router_port}/", args.clients, args.seconds))
    finally:
        for process in (router, stand_ins, doomed):
            process.terminate()
            process.wait(timeout=30)
        services_file.unlink(missing_ok=True)
    print(f"{args.clients} clients x {args.seconds:g} s through {GRAPHS / 'fallback.yaml'}")
    report(results, load_graph(GRAPHS / "fallback-first-choice.yaml").service_client_timeout_s)


if __name__ == "__main__":
    main()
