"""How long `kserve/graphs/fallback.yaml` takes to answer when the gate's first choice hangs, measured in one run.

Starts the test suite's KServe stand-ins (`tests/serving/graph/moe_models.py`: the gate routes as each request
says) and a socket that accepts connections and never answers (the hung expert). Serves the shipped fallback
graph twice with the local router: with every expert answering, and with the first choice (`expert-actions`)
hung. Prints each way's answering expert, status and median latency, their ratio, and the first choice's
per-hop limit (`routerTimeouts.serviceClient` of `fallback-first-choice.yaml`) that bounds the hung case.

Run: `python bench/router_hung_expert.py [--requests 5]` from the repository root.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from aiprime.moe.experts import EXPERTS
from aiprime.serving.graph import create_app, load_graph
from aiprime.serving.names import service_name

GRAPHS = Path("kserve/graphs")
STAND_INS = Path("tests/serving/graph/moe_models.py")
BODY = {"instances": [{"text": "a dog", "route": ["actions", "qualities"], "probs": [0.7, 0.3]}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"the stand-ins at {url} did not get ready")


def timed_requests(services: dict[str, str], count: int) -> tuple[list[float], str]:
    """Serve fallback.yaml on a free port; POST `count` times; the latencies and the last answer."""
    app = create_app(load_graph(GRAPHS / "fallback.yaml"), services)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    latencies, last = [], ""
    for _ in range(count):
        start = time.perf_counter()
        answer = httpx.post(f"http://127.0.0.1:{port}", json=BODY, timeout=120)
        latencies.append(time.perf_counter() - start)
        last = f"{answer.status_code} from {answer.json()['predictions'][0]['expert']}"
    server.should_exit = True
    thread.join(timeout=10)
    return latencies, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    stand_ins = subprocess.Popen([sys.executable, str(STAND_INS), str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    names = ["gate", "combiner", *(service_name("expert", spec.domain) for spec in EXPERTS)]
    services = {name: f"{url}/v1/models/{name}:predict" for name in names}
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        try:
            wait_ready(url)
            healthy, healthy_answer = timed_requests(services, args.requests)
            services["expert-actions"] = f"http://127.0.0.1:{hung.getsockname()[1]}/v1/models/hung:predict"
            stuck, stuck_answer = timed_requests(services, args.requests)
        finally:
            stand_ins.terminate()
            stand_ins.wait(timeout=30)
    limit = load_graph(GRAPHS / "fallback-first-choice.yaml").service_client_timeout_s
    print(f"every expert answering: {healthy_answer}, median {statistics.median(healthy) * 1000:.0f} ms")
    print(f"first choice hung:      {stuck_answer}, median {statistics.median(stuck):.2f} s "
          f"(max {max(stuck):.2f} s; the first choice's serviceClient limit is {limit:g} s)")  # fmt: skip
    print(f"hung / answering: {statistics.median(stuck) / statistics.median(healthy):.0f}x")


if __name__ == "__main__":
    main()
