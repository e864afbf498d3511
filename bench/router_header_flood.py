"""What four requests with a 100 MB header cost the InferenceGraph router: served as `aiprime router` serves
it (headers bounded by RouterConfig.max_header_bytes, 431) and, for comparison in the same run, by
uvicorn's defaults (what the router had before).

Starts each router in its own process on `kserve/graphs/top1.yaml` (no model server is needed: the
requests never reach a step), sends four requests with a `--megabytes` header each over raw sockets, and
prints each router's resident memory before and after, the first status line it answered, and whether it
still answers `/healthz`.

Run: `python bench/router_header_flood.py [--megabytes 100] [--requests 4]` from the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _loopback import free_port
from gateway_header_flood import measure

GRAPH = Path(__file__).resolve().parents[1] / "kserve" / "graphs" / "top1.yaml"
SERVICES = GRAPH.with_name("services.local.yaml")


def serve_plain(port: int) -> None:
    """A router process served by uvicorn's defaults, as before the header bound."""
    import uvicorn

    from aiprime.serving.graph import load_app

    uvicorn.Server(
        uvicorn.Config(load_app(GRAPH, SERVICES), host="127.0.0.1", port=port, log_level="warning")
    ).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--serve-plain", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        serve_plain(args.serve_plain)
        return
    print(f"{args.requests} requests with a {args.megabytes} MB header each, one router at a time")
    aiprime = str(Path(sys.executable).with_name("aiprime"))
    for name, command in (
        ("as served now", [aiprime, "router", "--graph", str(GRAPH), "--services", str(SERVICES), "--port"]),
        ("uvicorn's defaults", [sys.executable, __file__, "--serve-plain"]),
    ):
        port = free_port()
        measure(name, [*command, str(port)], port, args, health="/healthz")


if __name__ == "__main__":
    main()
