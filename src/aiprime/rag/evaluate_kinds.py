"""Retrieval quality per query kind: each arm on test, the fusion chosen on validation, hybrid's latency.

For every kind (`aiprime.rag.query_kinds`) the val and test queries are ranked once by dense search, BM25
and `ts_rank_cd` (depth `DEPTH` each), and the dense and BM25 lists also completed over their union
(`search.completed_arms`). The fusion of `fusion.GRID` with the best mean of recall@10, MRR@10
and nDCG@10 on val is then scored on test beside the arms, plain RRF (k=60, BM25) and, given a re-ranker,
the chosen hybrid's top `RERANK_DEPTH` re-ordered. Hybrid's latency is timed through `search.ranking` as
`search` runs it (the two arms at once on two connections, the completing look-up and the fusion; the
query's embedding is not included) on the test queries.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from aiprime.rag import fusion, store
from aiprime.rag.evaluate import (
    RERANK_DEPTH,
    distinct_docs,
    doc_ids_by_chunk,
    mean_metrics,
    rank_metrics,
    reranked,
    sample_queries,
)
from aiprime.rag.fusion import Fusion, Ranking
from aiprime.rag.query_kinds import built_queries
from aiprime.rag.search import DEPTH, EF_SEARCH, completed_arms, dense_ranking, lexical_ranking, ranking

if TYPE_CHECKING:
    from aiprime.rag.rerank import Reranker

ARMS = ("dense", "bm25", "ts_rank_cd")
OBJECTIVE = ("recall_at_10", "mrr", "ndcg_at_10")  # hybrid must match its better arm on each; then the mean


@dataclass(frozen=True)
class Ranked:
    """One query with each arm's ranking."""

    question: str
    relevant: str
    vector: np.ndarray  # (dim,)
    arms: dict[str, Ranking]  # with dense and bm25 also `dense@union` and `bm25@union`, completed

    def pair(self, complete: bool = False) -> tuple[Ranking, Ranking]:
        """The dense and BM25 rankings, plain or completed over their union (what a `complete` fusion fuses)."""
        suffix = "@union" if complete else ""
        return self.arms[f"dense{suffix}"], self.arms[f"bm25{suffix}"]


def queries_of(splits: Path, kind: str, split: str, n: int, seed: int, stored: set[str]) -> pd.DataFrame:
    """`n` queries (`question`, `relevant`) of `kind` in `split` whose relevant document is in `stored`."""
    if kind != "sense":
        return built_queries(splits, kind, split, n, seed, stored)
    frame = sample_queries(splits, 4 * n, seed, split=split)  # then keep the first n that are stored
    return frame[frame.relevant.isin(stored)].head(n).reset_index(drop=True)


def rank_arms(
    engine: Engine,
    cid: int,
    queries: pd.DataFrame,
    vectors: np.ndarray,
    ef_search: int,
    arms: Sequence[str] = ARMS,
) -> list[Ranked]:
    """Each query (`question`, `relevant`) ranked by `arms` (validation needs only dense and BM25)."""
    out = []
    for query, vector in zip(queries.itertuples(index=False), vectors, strict=True):
        with engine.begin() as conn:
            store.set_search_params(conn, ef_search, iterative=True)
            ranked = {arm: arm_ranking(conn, cid, arm, query.question, vector) for arm in arms}
            if {"dense", "bm25"} <= ranked.keys():
                union = completed_arms(conn, cid, query.question, vector, ranked["dense"], ranked["bm25"])
                ranked |= {"dense@union": union[0], "bm25@union": union[1]}
        out.append(Ranked(query.question, query.relevant, vector, ranked))
    return out


def arm_ranking(conn: Connection, cid: int, arm: str, question: str, vector: np.ndarray) -> Ranking:
    """One arm's ranking of a query: `dense`, or the lexical ranker of that name (`bm25`, `ts_rank_cd`)."""
    if arm == "dense":
        return dense_ranking(conn, cid, vector, DEPTH)
    return lexical_ranking(conn, cid, question, DEPTH, ranker=arm)


def scored(ranked: Ranking, relevant: str, doc_of: dict[int, str]) -> dict[str, float]:
    """recall@1, recall@10, MRR@10 and nDCG@10 of a chunk ranking, over distinct documents."""
    return rank_metrics(distinct_docs([item for item, _ in ranked], doc_of), {relevant})


def objective_metrics(ranked: Ranking, relevant: str, doc_of: dict[int, str]) -> dict[str, float]:
    """OBJECTIVE's metrics for one query."""
    metrics = scored(ranked, relevant, doc_of)
    return {name: metrics[name] for name in OBJECTIVE}


def objective(ranked: Ranking, relevant: str, doc_of: dict[int, str]) -> float:
    """The mean of OBJECTIVE's metrics for one query."""
    metrics = objective_metrics(ranked, relevant, doc_of)
    return sum(metrics.values()) / len(metrics)


def choose_fusion(val: Sequence[Ranked], doc_of: dict[int, str]) -> Fusion:
    """The fusion of GRID that loses to neither arm on OBJECTIVE's metrics on `val` (dense and BM25), or
    comes closest, with the best mean of them (`fusion.choose`)."""
    chosen, _ = fusion.choose(
        [q.pair() for q in val],
        lambda i, fused: objective_metrics(fused, val[i].relevant, doc_of),
        [q.pair(complete=True) for q in val],
    )
    return chosen


def methods_on_test(test: Sequence[Ranked], chosen: Fusion) -> dict[str, list[Ranking]]:
    """Every method's ranking of each test query (re-ranking comes after, from `hybrid`)."""
    methods = {arm: [q.arms[arm] for q in test] for arm in ARMS}  # the @union lists are not methods
    methods["hybrid"] = [chosen.fuse(*q.pair(chosen.complete)) for q in test]
    methods["hybrid_rrf60"] = [fusion.DEFAULT.fuse(*q.pair()) for q in test]
    return methods


def evaluate_kind(
    engine: Engine,
    cid: int,
    val: Sequence[Ranked],
    test: Sequence[Ranked],
    doc_of: dict[int, str],
    reranker: Reranker | None = None,
    rerank_queries: int = 100,
) -> tuple[Fusion, dict[str, float]]:
    """The fusion chosen on `val` and `{method}/{metric}` means on `test` (with `hybrid/p95_ms`).

    The re-ranker (about 0.4 s per query on 2 cores) scores the first `rerank_queries` test queries only;
    compare `hybrid+rerank` with `dense_rerank_subset/mrr`, dense on the same queries.
    """
    chosen = choose_fusion(val, doc_of)
    methods = methods_on_test(test, chosen)
    result = {
        f"{method}/{name}": value
        for method, rankings in methods.items()
        for name, value in mean_metrics(
            [scored(r, q.relevant, doc_of) for r, q in zip(rankings, test)]
        ).items()
    }
    if reranker is not None:
        n = min(rerank_queries, len(test))
        result |= rerank_figures(engine, test[:n], methods["hybrid"][:n], reranker, doc_of)
    return chosen, result | hybrid_latency(engine, cid, test, chosen)


def rerank_figures(
    engine: Engine,
    test: Sequence[Ranked],
    hybrid: Sequence[Ranking],
    reranker: Reranker,
    doc_of: dict[int, str],
) -> dict[str, float]:
    """`hybrid+rerank/{metric}` and the re-ranking's p95 milliseconds per query."""
    rows, latencies = [], []
    for query, fused in zip(test, hybrid, strict=True):
        with engine.connect() as conn:
            ids, ms = reranked(conn, query.question, fused, reranker, RERANK_DEPTH)
        rows.append(rank_metrics(distinct_docs(ids, doc_of), {query.relevant}))
        latencies.append(ms)
    means = {f"hybrid+rerank/{name}": value for name, value in mean_metrics(rows).items()}
    dense = mean_metrics([scored(q.arms["dense"], q.relevant, doc_of) for q in test])
    return means | {
        "dense_rerank_subset/mrr": dense["mrr"],
        "rerank/queries": float(len(test)),
        "rerank/p95_ms": float(np.percentile(latencies, 95)),
    }


def hybrid_latency(engine: Engine, cid: int, test: Sequence[Ranked], chosen: Fusion) -> dict[str, float]:
    """p50/p95 milliseconds of hybrid retrieval as `search` runs it (no embedding, no re-rank) per test query."""
    latencies = []
    for query in test:
        with engine.begin() as conn, engine.begin() as side:
            latencies.append(_timed_hybrid(conn, side, cid, query, chosen))
    return {
        "hybrid/p50_ms": float(np.percentile(latencies, 50)),
        "hybrid/p95_ms": float(np.percentile(latencies, 95)),
    }


def _timed_hybrid(conn: Connection, side: Connection, cid: int, query: Ranked, chosen: Fusion) -> float:
    for each in (conn, side):
        store.set_search_params(each, EF_SEARCH, iterative=True)
    start = time.perf_counter()
    ranking(conn, cid, query.question, query.vector, "hybrid", DEPTH, fused_by=chosen, side=side)
    return (time.perf_counter() - start) * 1000.0


def stored_doc_ids(engine: Engine, collection: str) -> tuple[int, dict[int, str]]:
    """The collection's id and its chunk id -> doc_id."""
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        return cid, doc_ids_by_chunk(conn, cid)
