"""Retrieval quality per query kind: dense, BM25, ts_rank_cd, hybrid (fusion chosen on val), hybrid + re-rank.

For each query kind (`aiprime.rag.query_kinds`: sense questions, definition-style queries, keyword queries,
code lookups) it draws `--val-queries` val and `--queries` test queries whose target is in the collection
(code has about 3,400 of each; 500 val queries let code's and sense's fusions differ by a query or two), ranks
them by every arm, chooses the fusion on val (`aiprime.rag.evaluate_kinds`) and prints R@1, R@10, MRR@10 and
nDCG@10 on test, the fusion chosen per kind (paste into `aiprime.rag.fusion.FUSIONS`), hybrid's retrieval
latency p50/p95 (no embedding, no re-rank), and the issue's targets as ratios measured in this one run.

It searches an existing store: `--home PATH` (or AIPRIME_HOME) names the state folder of the embedded
PostgreSQL, or AIPRIME_DATABASE_URL an external one. The collection's BM25 columns are filled first if they
are not (an ingest made before migration 0007); `--ingest` also brings the collection up to date with
`--splits` first (only what changed is embedded).

Run: `python bench/rag_quality.py [--home PATH] [--collection documents] [--splits data/splits]
[--queries 500] [--val-queries 2000] [--seed 0] [--kinds sense,definition,keyword,code] [--reranker none|champion|DIR]
[--rerank-queries 100] [--ingest]`
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

SPLITS = Path("data/splits")
METRICS = ("recall_at_1", "recall_at_10", "mrr", "ndcg_at_10")
SHOWN = ("dense", "bm25", "ts_rank_cd", "hybrid_rrf60", "hybrid", "hybrid+rerank")


def quality_table(results: dict[str, dict[str, float]], counts: dict[str, int]) -> Table:
    """One row per kind and method, the test metrics as columns."""
    table = Table(title="Retrieval quality per query kind (test split)")
    for column in ("kind", "queries", "method", *METRICS):
        table.add_column(column, justify="left" if column in ("kind", "method") else "right")
    for kind, result in results.items():
        for method in (m for m in SHOWN if f"{m}/mrr" in result):
            n = int(result["rerank/queries"]) if method == "hybrid+rerank" else counts[kind]
            table.add_row(kind, str(n), method, *(f"{result[f'{method}/{m}']:.3f}" for m in METRICS))
    return table


def target_lines(results: dict[str, dict[str, float]]) -> list[str]:
    """The issue's targets as measured ratios."""
    lines = []
    for kind, r in results.items():
        best = {m: max(r[f"dense/{m}"], r[f"bm25/{m}"]) for m in ("recall_at_10", "mrr", "ndcg_at_10")}
        ratios = ", ".join(f"{m} {r[f'hybrid/{m}'] / b:.3f}" for m, b in best.items() if b)
        lines.append(f"{kind}: BM25/dense nDCG@10 {r['bm25/ndcg_at_10'] / r['dense/ndcg_at_10']:.3f}; ")
        lines[-1] += f"hybrid/max(dense, BM25): {ratios}; hybrid p95 {r['hybrid/p95_ms']:.1f} ms"
        if "hybrid+rerank/mrr" in r:
            lines[-1] += f"; rerank/dense MRR {r['hybrid+rerank/mrr'] / r['dense_rerank_subset/mrr']:.3f}"
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="AIPRIME_HOME of the store to search")
    parser.add_argument("--collection", default=None, help="default: the settings' rag_collection")
    parser.add_argument("--splits", type=Path, default=SPLITS)
    parser.add_argument("--queries", type=int, default=500, help="test queries per kind")
    parser.add_argument(
        "--val-queries", type=int, default=2000, help="val queries per kind the fusion is chosen on"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="sense,definition,keyword,code")
    parser.add_argument("--reranker", default="none", help="MLflow alias (champion), a folder, or none")
    parser.add_argument("--rerank-queries", type=int, default=100, help="test queries per kind re-ranked")
    parser.add_argument("--ingest", action="store_true", help="bring the collection up to date with --splits")
    parser.add_argument("--no-ingest", action="store_true", help=argparse.SUPPRESS)  # the default now
    args = parser.parse_args()
    if args.home:
        os.environ["AIPRIME_HOME"] = str(args.home.resolve())
    run(args, Console(width=150))


def run(args: argparse.Namespace, console: Console) -> None:
    from aiprime.rag import lexical, store
    from aiprime.rag.embed import make_embedder
    from aiprime.rag.evaluate_kinds import ARMS, evaluate_kind, queries_of, rank_arms, stored_doc_ids
    from aiprime.rag.ingest import ingest_splits
    from aiprime.rag.rerank import resolve_reranker
    from aiprime.services import stack
    from aiprime.settings import Settings

    settings = Settings()
    collection = args.collection or settings.rag_collection
    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    if args.ingest:
        console.print(f"ingest: {ingest_splits(engine, args.splits, embedder, collection=collection)}")
    with engine.begin() as conn:
        start = time.perf_counter()
        report = lexical.refresh(conn, store.collection_id(conn, collection))
        console.print(f"BM25 columns: {report} in {time.perf_counter() - start:.1f} s")
    cid, doc_of = stored_doc_ids(engine, collection)
    stored = set(doc_of.values())
    console.print(f"collection {collection!r}: {len(stored):,} documents, {len(doc_of):,} chunks")
    reranker = resolve_reranker(args.reranker, settings.mlflow_url) if args.reranker != "none" else None
    results, counts, chosen = {}, {}, {}
    for kind in args.kinds.split(","):
        start = time.perf_counter()
        ranked = {}
        for split in ("val", "test"):
            n = args.val_queries if split == "val" else args.queries
            frame = queries_of(args.splits, kind, split, n, args.seed, stored)
            vectors = np.asarray(embedder.embed(list(frame.question)), dtype=np.float32)
            arms = ("dense", "bm25") if split == "val" else ARMS  # ts_rank_cd is only compared, on test
            ranked[split] = rank_arms(engine, cid, frame, vectors, 100, arms)
        chosen[kind], results[kind] = evaluate_kind(
            engine, cid, ranked["val"], ranked["test"], doc_of, reranker, args.rerank_queries
        )
        counts[kind] = len(ranked["test"])
        console.print(
            f"{kind}: {len(ranked['val'])} val / {counts[kind]} test queries, fusion {chosen[kind]!r} "
            f"({time.perf_counter() - start:.0f} s)"
        )
        console.print(quality_table({kind: results[kind]}, counts))  # now: a run killed later keeps these
        console.print(target_lines({kind: results[kind]})[0])
    console.print(quality_table(results, counts))
    console.print("FUSIONS = {" + ", ".join(f"{k!r}: {v!r}" for k, v in chosen.items()) + "}")
    for line in target_lines(results):
        console.print(line)


if __name__ == "__main__":
    main()
