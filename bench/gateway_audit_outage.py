"""The gateway under load while PostgreSQL is killed and restarted (and the gateway itself killed meanwhile):
every answer a client received has its audit row afterwards, once.

Starts an embedded PostgreSQL in a temporary folder, the test suite's KServe stand-ins as the upstream, and
the gateway in its own process (`--serve`), with per-principal rate limits lifted. `--clients` clients send
`POST /v1/predict` with their own `X-Request-Id` for `--seconds`. At 30% of the run PostgreSQL's postmaster
is killed (SIGKILL), at 45% the gateway is killed (SIGKILL, with audit entries spooled and not yet written),
at 60% PostgreSQL starts again and at 65% the gateway. At the end the gateway stops cleanly (it writes what
is left) and the bench counts, for every answer received, the audit rows with its request id.

Run: `python bench/gateway_audit_outage.py [--clients 32] [--seconds 30]` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from subprocess import DEVNULL

import httpx
import sqlalchemy as sa
from _loopback import free_port, wait_for

STAND_INS = Path("tests/serving/graph/moe_models.py")
BODY = {"instances": ["a dog runs"]}


def serve(port: int, db_url: str, home: str) -> None:
    """The gateway process: `create_app` served as `aiprime gateway` serves it."""
    import uvicorn

    from aiprime.gateway import GatewaySettings, create_app
    from aiprime.gateway.server import server_config
    from aiprime.settings import Settings

    gateway = GatewaySettings(_env_file=None)
    app = create_app(Settings(home=Path(home), _env_file=None), gateway, db_url=db_url)
    uvicorn.Server(server_config(app, gateway, host="127.0.0.1", port=port, log_level="warning")).run()


class Stack:
    """PostgreSQL, the upstream and the gateway, each started and killed on cue."""

    def __init__(self, folder: Path) -> None:
        from aiprime.db import embedded
        from aiprime.db.engine import ensure_databases, migrate
        from aiprime.db.urls import database_url

        self.folder, self.pg_dir = folder, folder / "pg"
        server_url = embedded.start_embedded(self.pg_dir)
        ensure_databases(server_url)
        self.db_url = database_url(server_url, "aiprime")
        migrate(self.db_url)
        self.upstream_port, self.port = free_port(), free_port()
        self.upstream = subprocess.Popen(
            [sys.executable, str(STAND_INS), str(self.upstream_port)], stdout=DEVNULL, stderr=DEVNULL
        )
        self.gateway: subprocess.Popen | None = None
        self.restarts = 0  # gateway starts that exited before serving
        self.url = f"http://127.0.0.1:{self.port}"

    def api_key(self) -> str:
        from aiprime.db.engine import connect
        from aiprime.security.admin import Actor, Admin

        admin, actor, name = Admin(connect(self.db_url)), Actor("bench"), f"bench-{uuid.uuid4().hex[:8]}"
        admin.add_principal(actor, name, "service")
        admin.grant(actor, name, "viewer")
        return admin.create_key(actor, name).token

    def start_gateway(self) -> None:
        """Start the gateway, restarting it while it exits at startup (PostgreSQL still recovering), as a
        supervisor (Kubernetes, systemd) would."""
        env = os.environ | {
            "AIPRIME_GATEWAY_PREDICT_URL": f"http://127.0.0.1:{self.upstream_port}/v1/models/gate:predict",
            "AIPRIME_GATEWAY_RATE_PER_S": "1000000",
            "AIPRIME_GATEWAY_BURST": "1000000",
        }
        command = [
            sys.executable,
            __file__,
            "--serve",
            str(self.port),
            self.db_url,
            str(self.folder / "home"),
        ]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with open(self.folder / "gateway.log", "ab") as log:
                self.gateway = subprocess.Popen(command, env=env, stdout=DEVNULL, stderr=log)
            while self.gateway.poll() is None:
                try:
                    if httpx.get(f"{self.url}/livez", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    time.sleep(0.2)
            self.restarts += 1
        print((self.folder / "gateway.log").read_text()[-3000:], file=sys.stderr)
        raise TimeoutError("the gateway did not start within 120 s")

    def kill_gateway(self) -> None:
        self.gateway.send_signal(signal.SIGKILL)
        self.gateway.wait()

    def stop_gateway(self) -> None:
        self.gateway.send_signal(signal.SIGTERM)
        self.gateway.wait(timeout=60)

    def kill_postgresql(self) -> None:
        pid = int((self.pg_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, signal.SIGKILL)

    def start_postgresql(self) -> None:
        from aiprime.db import embedded

        for _ in range(50):  # the killed postmaster's backends take a moment to notice and exit
            try:
                embedded.start_embedded(self.pg_dir)
                return
            except Exception:  # noqa: BLE001 - retried: shared memory still held by an exiting backend
                time.sleep(0.2)
        embedded.start_embedded(self.pg_dir)

    def close(self) -> None:
        from aiprime.db import embedded

        for process in (self.gateway, self.upstream):
            if process is not None and process.poll() is None:
                process.kill()
        embedded.stop_embedded(self.pg_dir)


async def client(http: httpx.AsyncClient, until: float, answered: dict, unanswered: Counter) -> None:
    while time.monotonic() < until:
        request_id = uuid.uuid4().hex
        try:
            answer = await http.post("/v1/predict", json=BODY, headers={"x-request-id": request_id})
            answered[request_id] = answer.status_code
        except httpx.HTTPError as e:
            unanswered[type(e).__name__] += 1
            await asyncio.sleep(0.05)


async def load(stack: Stack, key: str, clients: int, seconds: float) -> tuple[dict, Counter]:
    answered: dict[str, int] = {}
    unanswered: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60, limits=limits) as http:
        until = time.monotonic() + seconds
        await asyncio.gather(*(client(http, until, answered, unanswered) for _ in range(clients)))
    return answered, unanswered


def cue(seconds: float, stack: Stack) -> list[threading.Timer]:
    steps = [
        (0.30, stack.kill_postgresql),
        (0.45, stack.kill_gateway),
        (0.60, stack.start_postgresql),
        (0.65, stack.start_gateway),
    ]
    timers = [threading.Timer(seconds * at, step) for at, step in steps]
    for timer in timers:
        timer.start()
    return timers


def audit_rows(db_url: str, request_ids: list[str]) -> Counter:
    from aiprime.db.engine import connect

    query = sa.text("SELECT request_id FROM gateway.audit_log WHERE request_id = ANY(:ids)")
    with connect(db_url).connect() as conn:
        return Counter(r.request_id for r in conn.execute(query, {"ids": request_ids}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "DB_URL", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    folder = Path(tempfile.mkdtemp(prefix="aiprime-bench-"))
    stack = Stack(folder)
    try:
        key = stack.api_key()
        wait_for(f"http://127.0.0.1:{stack.upstream_port}/v2/health/ready", "the upstream")
        stack.start_gateway()
        timers = cue(args.seconds, stack)
        answered, unanswered = asyncio.run(load(stack, key, args.clients, args.seconds))
        for timer in timers:
            timer.join()
        stack.stop_gateway()  # writes what is left in the spool
        rows = audit_rows(stack.db_url, list(answered))
    finally:
        stack.close()
        shutil.rmtree(folder, ignore_errors=True)
    report(args, answered, unanswered, rows)
    print(f"gateway starts that exited while PostgreSQL was recovering (restarted): {stack.restarts}")


def report(args: argparse.Namespace, answered: dict, unanswered: Counter, rows: Counter) -> None:
    missing = [i for i in answered if rows[i] == 0]
    doubled = [i for i in answered if rows[i] > 1]
    print(f"{args.clients} clients x {args.seconds:g} s; PostgreSQL killed at 30%, restarted at 60%; "
          "the gateway killed at 45%, restarted at 65%")  # fmt: skip
    print(f"answers received (audit entries acknowledged): {len(answered)}, by status "
          f"{dict(sorted(Counter(answered.values()).items()))}")  # fmt: skip
    print(f"requests with no answer (gateway down): {sum(unanswered.values())} {dict(unanswered)}")
    print(
        f"audit rows for those answers: {sum(rows.values())}; missing {len(missing)}, duplicated {len(doubled)}"
    )
    print(f"rows / answers: {sum(rows.values()) / max(1, len(answered)):.4f}")


if __name__ == "__main__":
    main()
