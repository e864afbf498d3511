"""The agents' Python sandbox: its overhead per execution; the target is p95 <= 150 ms (issue 18).

Runs a small program (`print(sum(range(1000)))`) `--runs` times in the sandbox (prlimit, bwrap, seccomp,
output capture) and as a bare `python3 -I -S -B -` subprocess, interleaved so load changes hit both alike,
and prints the percentiles of each and of the overhead (the sandbox's time less the bare run's, quantile
by quantile), which the target is about.

    python bench/sandbox.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from aiprime.agents.sandbox import SYSTEM_PYTHON, run_python

PROGRAM = "print(sum(range(1000)))"
TARGET_P95_MS = 150.0


def bare_ms() -> float:
    """One run of the same program by the same interpreter, outside any sandbox."""
    start = time.perf_counter()
    subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-B", "-"], input=PROGRAM.encode(), capture_output=True, check=True
    )
    return (time.perf_counter() - start) * 1000


def sandbox_ms() -> float:
    start = time.perf_counter()
    result = run_python(PROGRAM)
    assert result.status == "ok" and result.stdout == "499500\n", result
    return (time.perf_counter() - start) * 1000


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    sandbox_ms()  # compiles the seccomp program once per process
    sandboxed, bare = [], []
    for _ in range(runs):
        sandboxed.append(sandbox_ms())
        bare.append(bare_ms())
    print(f"{runs} runs of {PROGRAM!r}, interleaved")
    for name, values in (("sandbox", sandboxed), ("bare python", bare)):
        print(f"{name:12} p50 {percentile(values, 50):6.1f} ms  p95 {percentile(values, 95):6.1f} ms")
    overhead = [s - b for s, b in zip(sorted(sandboxed), sorted(bare), strict=True)]  # quantile by quantile
    p95 = percentile(overhead, 95)
    print(f"overhead     p50 {percentile(overhead, 50):6.1f} ms  p95 {p95:6.1f} ms")
    verdict = "within" if p95 <= TARGET_P95_MS else "OVER"
    print(f"overhead p95 {p95:.1f} ms: {verdict} the {TARGET_P95_MS:.0f} ms target")
    print(f"overhead p95 / bare python p50: {p95 / percentile(bare, 50):.2f}x")


if __name__ == "__main__":
    main()
