"""What the one JSON log line per request costs a router or model server, measured in one run.

Every graph request in the router, and every request a model server answers, writes one line through
`aiprime.observability.logs` (JSON formatted, with the request id and the current span's ids) to the
service's file and to stderr (which `aiprime serve` sends to a second file). This times the same call the
router makes, inside a bound request id and a recording span, in three ways, alternating in chunks so that
background load hits each alike:

- **off**: the logger's level drops the line (what a request cost before the line existed);
- **file**: the line goes to `<log_dir>/<service>.jsonl` only (`console=False`);
- **file + stderr**: as the servers run (stderr to /dev/null here).

Prints the median microseconds per call of each and the lines' added cost.

Run: `python bench/json_log_overhead.py [--calls 20000]` from the repository root.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from aiprime.observability.logs import bound_request_id, configure_json_logging

LOGGER = "aiprime.serving.graph.app"
CHUNK = 500


def one_chunk(logger: logging.Logger, tracer) -> float:
    """Seconds per call, over CHUNK calls shaped like the router's `_log_request`."""
    start = time.perf_counter()
    for i in range(CHUNK):
        with bound_request_id(f"req-{i}"), tracer.start_as_current_span("graph"):
            logger.info(
                "graph request %s answered %d", "root", 200,
                extra={"node": "root", "status": 200, "duration_ms": 1.234, "error": None},
            )  # fmt: skip
    return (time.perf_counter() - start) / CHUNK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="Calls per way.")
    args = parser.parse_args()
    tracer = TracerProvider().get_tracer("bench")
    logger = logging.getLogger(LOGGER)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    timings: dict[str, list[float]] = {"off": [], "file": [], "file + stderr": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.calls // CHUNK):
            for way, values in timings.items():
                path = configure_json_logging("bench", Path(folder), stream=devnull, console=way != "file")
                logger.setLevel(logging.WARNING if way == "off" else logging.INFO)
                values.append(one_chunk(logger, tracer))
        lines = sum(1 for _ in path.open())
    off = statistics.median(timings["off"])
    print(f"{args.calls} calls per way, {lines} lines written to the file")
    for way, values in timings.items():
        median = statistics.median(values)
        print(
            f"{way:>14}: {median * 1e6:7.1f} us per call ({median / off:.2f}x off, +{(median - off) * 1e6:.1f} us)"
        )


if __name__ == "__main__":
    main()
