"""Retrieval quality of dense, lexical and hybrid search on the held-out queries, measured in one run.

Brings the `documents` collection of the `aiprime` database up to date with `data/splits/documents.parquet`
(only what changed is embedded and written; the first run embeds the whole corpus), then ranks a seeded
sample of test-split queries (WordNet example sentences with the lemma masked; the relevant document is the
synset's gloss) with each method and prints recall@1, recall@10, MRR@10 and nDCG@10, the corpus it searched,
and the ratios of hybrid to the best single method. `hybrid+true_domain` prefers the query's own domain:
what a perfect gate could add. `hybrid+rerank` re-orders hybrid's top `--rerank-depth` chunks with the
cross-encoder of `aiprime rag train-reranker` (the MLflow champion by default), with its ratio to the best
single method and its latency per query.

Run: `python bench/rag_quality.py [--queries 1000] [--seed 0] [--no-ingest] [--reranker champion|DIR|none]
[--rerank-depth 30]` (from the repository root, with the embedded PostgreSQL and MLflow of
`aiprime services up`, or AIPRIME_DATABASE_URL and AIPRIME_MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from aiprime.cli.rag import quality_table, rerank_latency
from aiprime.rag.embed import make_embedder
from aiprime.rag.evaluate import RERANK_DEPTH, RERANK_METHOD, evaluate_quality, sample_queries
from aiprime.rag.ingest import DEFAULT_COLLECTION, ingest_splits
from aiprime.rag.rerank import resolve_reranker
from aiprime.services import stack
from aiprime.settings import Settings

SPLITS = Path("data/splits")


def corpus_size(engine: sa.Engine, collection: str) -> dict[str, tuple[int, int]]:
    """Documents and chunks per source in the collection."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.source, count(DISTINCT d.id), count(k.id) FROM rag_documents d "
                "JOIN rag_collections c ON c.id = d.collection_id JOIN rag_chunks k ON k.document_id = d.id "
                "WHERE c.name = :c GROUP BY d.source ORDER BY d.source"
            ),
            {"c": collection},
        )
        return {source: (docs, chunks) for source, docs, chunks in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    parser.add_argument("--no-ingest", action="store_true", help="search the collection as it is")
    parser.add_argument("--reranker", default="champion", help="MLflow alias, a folder, or none")
    parser.add_argument("--rerank-depth", type=int, default=RERANK_DEPTH, help="hybrid candidates re-ranked")
    args = parser.parse_args()
    settings, console = Settings(), Console()
    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    if not args.no_ingest:
        start = time.perf_counter()
        report = ingest_splits(engine, SPLITS, embedder, collection=args.collection)
        console.print(f"ingest: {report} in {time.perf_counter() - start:.1f} s")
    sizes = corpus_size(engine, args.collection)
    console.print("corpus: " + ", ".join(f"{s} {d:,} docs / {c:,} chunks" for s, (d, c) in sizes.items()))
    reranker = resolve_reranker(args.reranker, settings.mlflow_url)
    console.print(f"re-ranker: {reranker.source if reranker else 'none'}")
    queries = sample_queries(SPLITS, args.queries, args.seed)
    start = time.perf_counter()
    vectors = embedder.embed(list(queries.question))
    result = evaluate_quality(
        engine,
        queries,
        vectors,
        collection=args.collection,
        reranker=reranker,
        rerank_depth=args.rerank_depth,
        model=embedder.name,
    )
    console.print(
        f"{int(result['quality/queries_scored'])} of {len(queries)} sampled test queries scored "
        f"(the others' documents are not ingested) in {time.perf_counter() - start:.1f} s"
    )
    console.print(quality_table(result | {"queries": result["quality/queries_scored"]}))
    for line in ratio_lines(result):
        console.print(line)
    if reranker:
        console.print(rerank_latency(result))


def ratio_lines(result: dict[str, float]) -> list[str]:
    """Hybrid (and hybrid+rerank, when scored) over the best single method, per metric; rerank over hybrid."""
    lines = []
    for method in ("hybrid", RERANK_METHOD):
        for metric in ("recall_at_10", "mrr", "ndcg_at_10"):
            if f"{method}/{metric}" in result:
                best = max(("dense", "lexical"), key=lambda m, metric=metric: result[f"{m}/{metric}"])
                lines.append(
                    f"{method} / {best} {metric}: {result[f'{method}/{metric}'] / result[f'{best}/{metric}']:.3f}"
                )
    if f"{RERANK_METHOD}/mrr" in result:
        lines.append(
            f"{RERANK_METHOD} / hybrid mrr: {result[f'{RERANK_METHOD}/mrr'] / result['hybrid/mrr']:.3f}"
        )
    return lines


if __name__ == "__main__":
    main()
