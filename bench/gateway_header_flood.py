"""What four requests with a 100 MB header cost the gateway: served as `aiprime gateway` serves it (headers
bounded, 431) and, for comparison in the same run, by uvicorn's defaults (what the gateway had before).

Starts an embedded PostgreSQL in a temporary folder and each gateway in its own process, sends four
requests with a `--megabytes` header each over raw sockets, and prints each gateway's resident memory
before and after, the first status line it answered, and whether it still answers `/livez`. Both answer
431 (the middleware checks the headers' size too), but uvicorn's defaults read the whole header first.

Run: `python bench/gateway_header_flood.py [--megabytes 100] [--requests 4]` from the repository root.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from subprocess import DEVNULL

import httpx
from _loopback import free_port, wait_for
from gateway_audit_outage import Stack


def serve_plain(port: int, db_url: str, home: str) -> None:
    """A gateway process served by uvicorn's defaults, as before the header bound."""
    import uvicorn

    from aiprime.gateway import GatewaySettings, create_app
    from aiprime.settings import Settings

    app = create_app(
        Settings(home=Path(home), _env_file=None), GatewaySettings(_env_file=None), db_url=db_url
    )
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def flood(port: int, megabytes: int) -> bytes:
    """One GET /livez with a `megabytes` header; the first line of the answer (b'' if none)."""
    chunk = b"a" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(b"GET /livez HTTP/1.1\r\nhost: x\r\nx-pad: ")
            for _ in range(megabytes):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is still to read
        try:
            return sock.recv(4096).split(b"\r\n", 1)[0]
        except (ConnectionResetError, TimeoutError):
            return b""


def measure(
    name: str, command: list[str], port: int, args: argparse.Namespace, health: str = "/livez"
) -> None:
    """Start the server `command`, flood it, print its memory before and after and whether `health` answers."""
    process = subprocess.Popen(command, stdout=DEVNULL, stderr=DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}{health}", name)
        before = rss_mb(process.pid)
        answers = [flood(port, args.megabytes) for _ in range(args.requests)]
        after = rss_mb(process.pid)
        alive = httpx.get(f"http://127.0.0.1:{port}{health}", timeout=10).status_code
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"{name:<22} RSS {before:6.0f} -> {after:6.0f} MB ({after / before:.2f}x); "
          f"answered {answers[0].decode(errors='replace')!r}; {health} after: {alive}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--serve-plain", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        serve_plain(int(args.serve_plain[0]), args.serve_plain[1], args.serve_plain[2])
        return
    folder = Path(tempfile.mkdtemp(prefix="aiprime-bench-"))
    stack = Stack(folder)
    try:
        outage = str(Path(__file__).with_name("gateway_audit_outage.py"))
        print(f"{args.requests} requests with a {args.megabytes} MB header each, one gateway at a time")
        for name, script, flag in (
            ("as served now", outage, "--serve"),
            ("uvicorn's defaults", __file__, "--serve-plain"),
        ):
            port = free_port()
            command = [sys.executable, script, flag, str(port), stack.db_url, str(folder / f"home-{port}")]
            measure(name, command, port, args)
    finally:
        stack.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
