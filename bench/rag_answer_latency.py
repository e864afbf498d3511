"""Answer latency through the running RAG graph, per query kind: what a person waits for.

Each test query goes to the router of the stack `aiprime serve --rag` (or `make run`) left running, one at a
time, through gate -> expert -> retriever (hybrid search, re-ranked) -> generator (draft, check, fall back or
abstain). Prints per kind the wall p50 and p95 per request and how the answers were made.

Usage: AIPRIME_HOME=... python bench/rag_answer_latency.py [--splits data/splits] [--queries 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from aiprime.rag.answer_eval import stored_doc_ids
from aiprime.rag.evaluate_kinds import queries_of
from aiprime.rag.query_kinds import KINDS
from aiprime.services import stack
from aiprime.serving import launcher
from aiprime.settings import Settings


def timed(client: httpx.Client, router_url: str, question: str) -> tuple[float, str | None]:
    """One question's wall time through the graph, and the answer's mode."""
    start = time.perf_counter()
    reply = client.post(router_url, json={"instances": [question]})
    seconds = time.perf_counter() - start
    reply.raise_for_status()
    return seconds, reply.json()["predictions"][0].get("mode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--queries", type=int, default=40, help="test queries per kind")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = Settings()
    running = launcher.running(settings)
    if running is None:
        raise SystemExit(
            "No stack is running on this home: `aiprime serve --rag --detach` or `make run` first."
        )
    stored = stored_doc_ids(stack.ready_app_db(settings), settings.rag_collection)
    with httpx.Client(timeout=120) as client:
        for kind in KINDS:
            questions = queries_of(args.splits, kind, "test", args.queries, args.seed, stored).question
            runs = [timed(client, running.router_url, q) for q in questions]
            seconds, modes = [s for s, _ in runs], Counter(m for _, m in runs)
            print(f"{kind}: n={len(runs)} p50 {np.median(seconds):.3f} s, p95 {np.percentile(seconds, 95):.3f} s; "
                  f"{dict(modes)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
