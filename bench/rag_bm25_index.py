"""BM25 top 10: exact (GIN candidates, `aiprime.rag.lexical.bm25_ranking`) against an HNSW index on the sparsevec.

pgvector 0.8 indexes `sparsevec` with HNSW (inner product, at most 1,000 non-zero terms per vector). This
builds that index inside a transaction it rolls back (the store is left as it was), then ranks the same test
queries (definition, keyword and code kinds, `aiprime.rag.query_kinds`) both ways and prints recall@10 of the
index against the exact ranking and p50/p95 milliseconds of each, per `ef_search`.

Run: `python bench/rag_bm25_index.py [--home PATH] [--collection documents] [--splits data/splits]
[--queries 100]`
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

EF_VALUES = (40, 100, 400)


def timed_ids(run) -> tuple[list[int], float]:
    start = time.perf_counter()
    ids = [row[0] for row in run()]
    return ids, (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--collection", default=None)
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--queries", type=int, default=100, help="test queries per kind")
    args = parser.parse_args()
    if args.home:
        os.environ["AIPRIME_HOME"] = str(args.home.resolve())

    from aiprime.rag import lexical, store
    from aiprime.rag.evaluate_kinds import stored_doc_ids
    from aiprime.rag.query_kinds import built_queries
    from aiprime.services import stack
    from aiprime.settings import Settings

    settings = Settings()
    collection = args.collection or settings.rag_collection
    engine = stack.ready_app_db(settings)
    cid, doc_of = stored_doc_ids(engine, collection)
    stored = set(doc_of.values())
    questions = [
        q
        for kind in ("definition", "keyword", "code")
        for q in built_queries(args.splits, kind, "test", args.queries, 0, stored).question
    ]
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
        start = time.perf_counter()
        conn.execute(
            sa.text("CREATE INDEX bench_bm25_hnsw ON rag_chunk_bm25 USING hnsw (lex_bm25 sparsevec_ip_ops)")
        )
        print(f"HNSW on {len(doc_of):,} chunks' BM25 vectors built in {time.perf_counter() - start:.1f} s")
        exact, exact_ms = [], []
        for q in questions:
            ids, ms = timed_ids(lambda q=q: lexical.bm25_ranking(conn, cid, lexical.tokens(q), 10))
            exact.append(ids)
            exact_ms.append(ms)
        print(
            f"exact (GIN candidates): p50 {np.percentile(exact_ms, 50):.1f} ms, p95 {np.percentile(exact_ms, 95):.1f} ms"
        )
        for ef in EF_VALUES:
            conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {ef}"))
            conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            recalls, latencies = [], []
            for q, truth in zip(questions, exact, strict=True):
                weights = lexical.query_weights(conn, cid, lexical.tokens(q))
                if weights is None or not truth:
                    continue
                b = store.chunk_bm25.c
                query = (
                    sa.select(b.chunk_id)
                    .where(b.collection_id == cid)
                    .order_by(b.lex_bm25.max_inner_product(weights))
                    .limit(10)
                )
                ids, ms = timed_ids(lambda query=query: conn.execute(query))
                recalls.append(len(set(ids) & set(truth)) / len(truth))
                latencies.append(ms)
            print(
                f"HNSW ef_search={ef}: recall@10 {np.mean(recalls):.3f} of exact, "
                f"p50 {np.percentile(latencies, 50):.1f} ms, p95 {np.percentile(latencies, 95):.1f} ms"
            )
        tx.rollback()


if __name__ == "__main__":
    main()
