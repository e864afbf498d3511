"""Evaluation: metrics on hand-computed cases, exact search, and a full run on the tiny corpus."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
import torch
import torchmetrics.functional.retrieval as tm

from aiprime.rag import store
from aiprime.rag.evaluate import (
    EF_VALUES,
    METHODS,
    QUALITY_METRICS,
    RERANK_METHOD,
    distinct_docs,
    doc_ids_by_chunk,
    evaluate,
    exact_top_k,
    mean_metrics,
    rank_metrics,
    sample_queries,
)
from aiprime.rag.ingest import ingest
from aiprime.rag.search import DEPTH, dense_ranking, lexical_ranking, rrf


def test_one_relevant_document_at_rank_two() -> None:
    assert rank_metrics(["x", "r", "y"], {"r"}) == pytest.approx(
        {"recall_at_1": 0.0, "recall_at_10": 1.0, "mrr": 0.5, "ndcg_at_10": 1 / math.log2(3)}
    )


def test_several_relevant_documents_with_one_missed() -> None:
    metrics = rank_metrics(["r1", "x", "r2"], {"r1", "r2", "r3"})

    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics == pytest.approx(
        {
            "recall_at_1": 1 / 3,
            "recall_at_10": 2 / 3,
            "mrr": 1.0,
            "ndcg_at_10": (1 + 1 / math.log2(4)) / ideal,
        }
    )


def test_a_document_below_the_cutoff_scores_nothing() -> None:
    ranked = [f"x{i}" for i in range(10)] + ["r"]

    assert rank_metrics(ranked, {"r"}) == {
        "recall_at_1": 0.0,
        "recall_at_10": 0.0,
        "mrr": 0.0,
        "ndcg_at_10": 0.0,
    }
    assert mean_metrics([rank_metrics(["r"], {"r"}), rank_metrics(ranked, {"r"})])["mrr"] == 0.5


def torchmetrics_scores(ranked: list[str], relevant: set[str], k: int = 10) -> dict[str, float]:
    """The same four numbers from torchmetrics.retrieval, the reference implementation.

    torchmetrics takes every document of a query with a score: the retrieved ones descending, then (scores
    <= 0 mean not retrieved) fillers up to the cut-off and the relevant documents that retrieval missed,
    so that nDCG, which ranks every score, sees those beyond the cut-off too.
    """
    missed = sorted(relevant - set(ranked))
    fillers = [f"filler{i}" for i in range(k - len(ranked))]
    preds = torch.cat(
        [torch.arange(len(ranked), 0, -1), torch.zeros(len(fillers)), -torch.ones(len(missed))]
    ).float()
    target = torch.tensor([doc in relevant for doc in ranked + fillers + missed])
    return {
        "recall_at_1": float(tm.retrieval_recall(preds, target, top_k=1)),
        f"recall_at_{k}": float(tm.retrieval_recall(preds, target, top_k=k)),
        "mrr": float(tm.retrieval_reciprocal_rank(preds, target, top_k=k)),
        f"ndcg_at_{k}": float(tm.retrieval_normalized_dcg(preds, target, top_k=k)),
    }


def test_metrics_agree_with_torchmetrics_on_real_shaped_rankings() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):  # up to DEPTH distinct documents, 1-3 relevant ones, retrieved or not
        pool = [f"d{i}" for i in rng.permutation(80)]
        ranked = pool[: rng.integers(0, 51)]
        relevant = set(rng.choice(pool, size=rng.integers(1, 4), replace=False).tolist())
        assert rank_metrics(ranked, relevant) == pytest.approx(
            torchmetrics_scores(ranked, relevant), abs=1e-6
        )


def test_metrics_agree_with_torchmetrics_on_the_tiny_corpus(
    engine, tiny_corpus, tiny_splits, embedder, collection
) -> None:
    ingest(engine, tiny_corpus, embedder, collection=collection)
    queries = sample_queries(tiny_splits, n=40, seed=2)
    vectors = np.asarray(embedder.embed(list(queries.question)), dtype=np.float32)
    scored = 0
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        doc_of = doc_ids_by_chunk(conn, cid)
        for query, vector in zip(queries.itertuples(index=False), vectors, strict=True):
            dense = [item for item, _ in dense_ranking(conn, cid, vector, DEPTH)]
            lexical = [item for item, _ in lexical_ranking(conn, cid, query.question, DEPTH)]
            for chunk_ids in (dense, lexical, [item for item, _ in rrf([dense, lexical])]):
                ranked = distinct_docs(chunk_ids, doc_of)
                expected = torchmetrics_scores(ranked, {query.relevant})
                assert rank_metrics(ranked, {query.relevant}) == pytest.approx(expected, abs=1e-6)
                scored += expected["mrr"] > 0
    assert scored > 0  # some queries find their document, so the ranks themselves are compared


def test_chunks_of_one_document_count_once() -> None:
    assert distinct_docs([5, 6, 7, 8], {5: "a", 6: "a", 7: "b", 8: "a"}) == ["a", "b"]


def test_exact_top_k_agrees_with_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(500, 16)).astype(np.float32)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    ids = np.arange(1000, 1500)

    top = exact_top_k(queries, ids, matrix, k=5, batch=3)

    assert (top == ids[np.argsort(-(queries @ matrix.T), axis=1)[:, :5]]).all()


def test_evaluate_on_the_tiny_corpus_reports_every_figure(engine, tiny_corpus, tiny_splits, embedder) -> None:
    collection = f"test-eval-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus, embedder, collection=collection)
    store.ensure_hnsw_index(engine)

    result = evaluate(engine, embedder, tiny_splits, n_queries=30, seed=1, collection=collection)

    assert 0 < result["quality/queries_scored"] == result["queries"] <= 30
    for method in (m for m in METHODS if m != RERANK_METHOD):
        assert all(0.0 <= result[f"{method}/{metric}"] <= 1.0 for metric in QUALITY_METRICS)
    assert f"{RERANK_METHOD}/mrr" not in result  # no re-ranker given (tests/rag/test_rerank.py passes one)
    assert result["hybrid/recall_at_10"] >= result["hybrid/recall_at_1"]
    for ef in EF_VALUES:
        assert 0.0 < result[f"hnsw/ef{ef}/recall_at_10"] <= 1.0
        assert 0.0 < result[f"hnsw/ef{ef}/p50_ms"] <= result[f"hnsw/ef{ef}/p95_ms"]
    assert result["hnsw/vectors"] > len(tiny_corpus)  # sections split into several chunks
