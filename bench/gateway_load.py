"""A bounded load test of the gateway on loopback: 50 clients for 30 s against a trivial upstream.

Starts, each in its own process on 127.0.0.1: a trivial upstream (answers a fixed KServe v1 response) and
the gateway (`serve_gateway`, default limits, JSON access logs to a file) on an embedded PostgreSQL in a
temporary folder. Creates one service account per client (role viewer, an API key each), and each client
takes a token by the client-credentials grant. Then every client posts `POST /v1/predict` in a loop, first
straight to the upstream for `--direct-s` seconds (the baseline), then through the gateway for
`--duration-s` seconds. Prints throughput, p50/p99/max latency, errors by status, the ratios gateway/direct,
and checks afterwards that every request is in the audit log and that its hash chain verifies.

Everything (clients, gateway, upstream, PostgreSQL) shares this machine's cores: the figures are the
gateway's cost on such a machine, not its capacity on a dedicated one.

Run: `python bench/gateway_load.py [--clients 50] [--duration-s 30] [--direct-s 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from _loopback import free_port, wait_for

PAYLOAD = {"instances": ["a dog runs across the field"]}
ANSWER = b'{"predictions": [{"expert": "actions", "label": "verb.motion", "probability": 0.91}]}'


async def upstream_app(scope, receive, send) -> None:
    """A trivial upstream: drains the body and answers a fixed prediction."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


def _serve_upstream(port: int) -> None:
    uvicorn.run(upstream_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_gateway(home: str, db_server_url: str, upstream_url: str, port: int, log_path: str) -> None:
    from aiprime.gateway import GatewaySettings, serve_gateway
    from aiprime.settings import Settings

    sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 - the JSON access log of the run
    settings = Settings(home=Path(home), database_url=db_server_url, _env_file=None)
    serve_gateway(settings, upstream_url, "127.0.0.1", port, GatewaySettings(_env_file=None))


@dataclass
class Result:
    """Latencies (s) and statuses of one phase."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def quantile(self, q: float) -> float:
        """The q-quantile of the latencies, in milliseconds."""
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 1000) - 1] * 1000

    @property
    def throughput(self) -> float:
        """Answered requests per second."""
        return len(self.latencies) / self.seconds

    @property
    def errors(self) -> int:
        """Answers other than 200, and transport failures."""
        return sum(n for status, n in self.statuses.items() if status != 200)


async def _client(url: str, token: str | None, deadline: float, result: Result) -> None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status = (await client.post(url, json=PAYLOAD)).status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] += 1


async def _phase(url: str, tokens: list[str | None], seconds: float) -> Result:
    result = Result()
    start = time.perf_counter()
    await asyncio.gather(*(_client(url, t, start + seconds, result) for t in tokens))
    result.seconds = time.perf_counter() - start
    return result


def _accounts(db_url: str, clients: int) -> list[tuple[str, str]]:
    from aiprime.db.engine import connect
    from aiprime.security.admin import Actor, Admin

    admin, actor = Admin(connect(db_url)), Actor("bench")
    accounts = []
    for i in range(clients):
        name = f"bench-client-{i:02d}"
        admin.add_principal(actor, name, "service")
        admin.grant(actor, name, "viewer")
        accounts.append((name, admin.create_key(actor, name).token))
    return accounts


def _tokens(gateway_url: str, accounts: list[tuple[str, str]]) -> list[str]:
    with httpx.Client(base_url=gateway_url) as client:
        return [
            client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "client_id": name, "client_secret": key},
            ).json()["access_token"]
            for name, key in accounts
        ]


def _audit_check(db_url: str, requests: int) -> str:
    import sqlalchemy as sa

    from aiprime.db.engine import connect
    from aiprime.security import audit

    engine = connect(db_url)
    deadline = time.monotonic() + 30  # the audit writer commits in batches, behind the answers
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT count(*) FROM gateway.audit_log WHERE action = 'POST /v1/predict'")
            ).scalar()
        if rows >= requests or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    report = audit.verify(engine)
    return (
        f"audit: {rows} predict rows for {requests} gateway requests; chain of {report.rows} rows "
        f"{'verifies' if report.ok else 'BROKEN'}"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _line(name: str, r: Result) -> str:
    return (
        f"{name:8s} {len(r.latencies):7d} req in {r.seconds:5.1f} s  {r.throughput:7.1f} req/s  "
        f"p50 {r.quantile(0.5):6.2f} ms  p99 {r.quantile(0.99):7.2f} ms  "
        f"max {max(r.latencies) * 1000:7.1f} ms  "
        f"errors {r.errors} {dict(r.statuses)}"
    )


def main() -> None:
    """Parse arguments, start the servers, run both phases, print the figures, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--direct-s", type=float, default=10.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aiprime-bench-gateway-"))
    from aiprime.db import embedded

    try:
        _run(args, folder, embedded.start_embedded(folder / "pg"))
    finally:
        embedded.stop_embedded(folder / "pg")
        shutil.rmtree(folder, ignore_errors=True)


def _run(args: argparse.Namespace, folder: Path, server_url: str) -> None:
    from aiprime.db.engine import ensure_databases, migrate
    from aiprime.db.urls import database_url

    ensure_databases(server_url)
    db_url = database_url(server_url, "aiprime")
    migrate(db_url)
    accounts = _accounts(db_url, args.clients)
    ctx = multiprocessing.get_context("spawn")
    up_port, gw_port = free_port(), free_port()
    upstream_url, gateway_url = f"http://127.0.0.1:{up_port}/", f"http://127.0.0.1:{gw_port}"
    procs = [
        ctx.Process(target=_serve_upstream, args=(up_port,), daemon=True),
        ctx.Process(
            target=_serve_gateway,
            daemon=True,
            args=(str(folder / "home"), server_url, upstream_url, gw_port, str(folder / "gateway.log")),
        ),
    ]
    for p in procs:
        p.start()
    try:
        wait_for(f"{gateway_url}/healthz", "the gateway", 60)
        _report(args, db_url, gateway_url, upstream_url, _tokens(gateway_url, accounts), procs[1].pid)
    finally:
        for p in procs:
            p.terminate()
            p.join(10)


def _report(
    args: argparse.Namespace,
    db_url: str,
    gateway_url: str,
    upstream_url: str,
    tokens: list[str],
    gateway_pid: int,
) -> None:
    asyncio.run(_phase(upstream_url, [None] * args.clients, 1.0))  # warm-up
    direct = asyncio.run(_phase(upstream_url, [None] * args.clients, args.direct_s))
    warm = asyncio.run(_phase(f"{gateway_url}/v1/predict", tokens, 1.0))  # caches, pools
    cpu = _cpu_seconds(gateway_pid)
    gateway = asyncio.run(_phase(f"{gateway_url}/v1/predict", tokens, args.duration_s))
    cpu = _cpu_seconds(gateway_pid) - cpu
    print(
        f"{args.clients} clients on 127.0.0.1, POST /v1/predict, "
        f"{multiprocessing.cpu_count()} cores shared by all "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(_line("direct", direct))
    print(_line("gateway", gateway))
    print(
        f"ratio gateway/direct: throughput {gateway.throughput / direct.throughput:.2f}x, "
        f"p50 {gateway.quantile(0.5) / direct.quantile(0.5):.1f}x, "
        f"p99 {gateway.quantile(0.99) / direct.quantile(0.99):.1f}x"
    )
    print(
        f"gateway process CPU: {cpu * 1000 / len(gateway.latencies):.2f} ms per request "
        f"({cpu / gateway.seconds:.2f} cores busy)"
    )
    print(_audit_check(db_url, len(warm.latencies) + len(gateway.latencies)))


if __name__ == "__main__":
    main()
