"""Throughput of the served mixture of experts, and what the router adds to the real gate -> expert pair.

Starts the stack as `aiprime serve` does (the gate, six experts and the combiner as KServe servers, the
router on kserve/graphs/top1.yaml; each its own process on 127.0.0.1) in a temporary AIPRIME_HOME, on tiny
real models (`aiprime.serving.smoke`, trained on a few hundred glosses) unless `--models-dir` names trained
ones. Then, in one run, on real WordNet glosses as requests:

1. **graph throughput** at each concurrency (default 1, 8, 32 clients): each client keeps one request in
   flight, `--requests` in all per level; p50/p95 latency, requests per second, errors;
2. **router overhead**: the same requests by two paths, alternating in chunks so that background load hits
   both alike: *direct* (the client calls the gate, then the chosen expert with the gate's response: what
   the graph does) and *routed* (one POST to the router); p50 and the milliseconds the router adds.

Run: `python bench/serving_graph.py [--models-dir DIR] [--requests 240] [--concurrency 1 8 32]`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from aiprime.serving import launcher, smoke
from aiprime.settings import Settings

CHUNK = 24  # requests per alternation between the two paths


@dataclass(frozen=True)
class Result:
    """Latencies of one run of requests."""

    latencies_ms: list[float]  # one per successful request, sorted
    errors: int  # requests that failed
    wall_s: float  # time to serve them all

    def pct(self, q: float) -> float:
        """The q-quantile of the latencies (nearest rank)."""
        return self.latencies_ms[min(len(self.latencies_ms) - 1, int(q * len(self.latencies_ms)))]

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return len(self.latencies_ms) / self.wall_s


async def drive(call: Callable[[str], Awaitable[None]], texts: list[str], concurrency: int) -> Result:
    """Send every text with `concurrency` clients, each with one request in flight."""
    latencies: list[float] = []
    errors = 0
    queue = iter(texts)

    async def client() -> None:
        nonlocal errors
        for text in queue:
            start = time.perf_counter()
            try:
                await call(text)
                latencies.append((time.perf_counter() - start) * 1000)
            except httpx.HTTPError:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Result(sorted(latencies), errors, time.perf_counter() - start)


def paths(client: httpx.AsyncClient, stack: launcher.Stack) -> tuple[Callable, Callable]:
    """The routed call (one POST to the router) and the direct one (gate, then its expert)."""
    services = stack.services()

    async def routed(text: str) -> None:
        (await client.post(stack.router_url, json={"instances": [text]})).raise_for_status()

    async def direct(text: str) -> None:
        gate = await client.post(services["gate"], json={"instances": [text]})
        expert = gate.raise_for_status().json()["predictions"][0]["expert"]
        answer = await client.post(services[f"expert-{expert}"], content=gate.content,
                                   headers={"Content-Type": "application/json"})  # fmt: skip
        answer.raise_for_status()

    return routed, direct


async def measure(stack: launcher.Stack, texts: list[str], levels: list[int], requests: int) -> None:
    """Print graph throughput per level, then the router's overhead at the lowest levels."""
    limits = httpx.Limits(max_connections=2 * max(levels), max_keepalive_connections=2 * max(levels))
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        routed, direct = paths(client, stack)
        await drive(routed, texts[:16], 4)  # warm up pools and torch
        print("graph throughput (top1: router -> gate -> expert)")
        print(" clients |  p50 ms  p95 ms |  req/s | errors")
        for level in levels:
            r = await drive(routed, _take(texts, requests), level)
            print(f"{level:>8} | {r.pct(0.5):7.1f} {r.pct(0.95):7.1f} | {r.throughput:6.1f} | {r.errors}")
        print("\nrouter overhead (same requests, interleaved)")
        print(" clients | direct p50 | routed p50 | ratio | added ms")
        for level in levels[:2]:
            d, r = await interleaved(direct, routed, _take(texts, requests // 2), level)
            print(f"{level:>8} | {d.pct(0.5):10.1f} | {r.pct(0.5):10.1f} | {r.pct(0.5) / d.pct(0.5):5.2f} | "
                  f"{r.pct(0.5) - d.pct(0.5):+8.1f}")  # fmt: skip


async def interleaved(
    direct: Callable, routed: Callable, texts: list[str], level: int
) -> tuple[Result, Result]:
    """Alternate chunks of both paths; the merged results of each."""
    runs: dict[str, list[Result]] = {"direct": [], "routed": []}
    chunk = max(CHUNK, 3 * level)
    for i, start in enumerate(range(0, len(texts), chunk)):
        order = [("direct", direct), ("routed", routed)]
        for name, call in order if i % 2 == 0 else order[::-1]:
            runs[name].append(await drive(call, texts[start : start + chunk], level))
    return _merge(runs["direct"]), _merge(runs["routed"])


def _merge(results: list[Result]) -> Result:
    latencies = sorted(ms for r in results for ms in r.latencies_ms)
    return Result(latencies, sum(r.errors for r in results), sum(r.wall_s for r in results))


def _take(texts: list[str], n: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(n)]


def main() -> None:
    """Start the stack, measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models-dir", type=Path, help="gate/, expert-<name>/ folders (default: train tiny ones)"
    )
    parser.add_argument("--requests", type=int, default=240, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    args = parser.parse_args()
    table = smoke.classification_table()
    texts = table[table.split == "test"].sample(n=200, random_state=0).text.tolist()
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models_dir or _tiny(table, Path(tmp))
        settings = Settings(home=Path(tmp) / "home", _env_file=None)
        started = time.perf_counter()
        stack = launcher.start(launcher.ServeOptions(router_port=0, model_dir=models), settings)
        print(f"stack ready in {time.perf_counter() - started:.0f} s: {len(stack.servers)} processes\n")
        try:
            asyncio.run(measure(stack, texts, args.concurrency, args.requests))
        finally:
            launcher.stop(settings)


def _tiny(table, tmp: Path) -> Path:
    folders = smoke.train_tiny(smoke.sample_glosses(table), tmp / "models", tmp / "embeddings")
    return next(iter(folders.values())).parent


if __name__ == "__main__":
    main()
