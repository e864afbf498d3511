"""The HNSW index against exact search on the stored corpus: build time, recall@10 and latency, in one run.

Rebuilds the cosine HNSW index of `rag_chunks` with the given m and ef_construction (maintenance_work_mem
2GB) and times the build. Then, for a seeded sample of test-split queries embedded with the collection's
model, compares the index's top 10 with the exact top 10 (numpy brute force over every stored vector) at
ef_search 20, 40 and 100, and prints recall@10 with p50/p95 latency of the index query (one SQL round trip,
ids and distances). Exact search in PostgreSQL (index scans off) is timed on the first 50 queries for
reference. Target of the issue: recall@10 >= 0.95 at p95 <= 10 ms.

Run: `python bench/rag_hnsw.py [--m 16] [--ef-construction 64] [--queries 1000] [--seed 0]` (from the
repository root, after `aiprime rag ingest`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from rich.console import Console

from aiprime.cli.rag import hnsw_table
from aiprime.rag import store
from aiprime.rag.embed import make_embedder
from aiprime.rag.evaluate import EF_VALUES, evaluate_hnsw, sample_queries, timed, uses_hnsw
from aiprime.rag.ingest import DEFAULT_COLLECTION
from aiprime.rag.search import dense_ranking
from aiprime.services import stack
from aiprime.settings import Settings

EXACT_QUERIES = 50


def exact_latencies(engine: sa.Engine, collection: str, vectors: np.ndarray) -> list[float]:
    """Milliseconds of exact (sequential) cosine search in PostgreSQL for each vector."""
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
    latencies = []
    for vector in vectors:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL enable_indexscan = off"))
            latencies.append(timed(lambda: dense_ranking(conn, cid, vector, 10, exact_fallback=False))[1])  # noqa: B023
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    args = parser.parse_args()
    settings, console = Settings(), Console()
    engine = stack.ready_app_db(settings)
    params = store.HnswParams(args.m, args.ef_construction)
    build_s = store.ensure_hnsw_index(engine, params, force=True)
    console.print(
        f"HNSW build (m={params.m}, ef_construction={params.ef_construction}, 2GB): {build_s:.1f} s"
    )
    queries = sample_queries(Path("data/splits"), args.queries, args.seed)
    vectors = np.asarray(make_embedder(settings).embed(list(queries.question)), dtype=np.float32)
    result = evaluate_hnsw(engine, vectors, collection=args.collection, ef_values=EF_VALUES)
    console.print(f"planner uses the HNSW index: {uses_hnsw(engine, args.collection)}")
    console.print(hnsw_table(result))
    exact = exact_latencies(engine, args.collection, vectors[:EXACT_QUERIES])
    console.print(
        f"exact search in PostgreSQL: p50 {np.percentile(exact, 50):.1f} ms, "
        f"p95 {np.percentile(exact, 95):.1f} ms ({len(exact)} queries)"
    )
    for ef in EF_VALUES:
        ratio = np.percentile(exact, 50) / result[f"hnsw/ef{ef}/p50_ms"]
        console.print(f"ef_search {ef}: exact p50 / HNSW p50 = {ratio:.1f}x")


if __name__ == "__main__":
    main()
