"""Evaluation: metrics on hand-computed cases, exact search, and a full run on the tiny corpus."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest

from aiprime.rag import store
from aiprime.rag.evaluate import (
    EF_VALUES,
    METHODS,
    QUALITY_METRICS,
    RERANK_METHOD,
    distinct_docs,
    evaluate,
    exact_top_k,
    mean_metrics,
    rank_metrics,
)
from aiprime.rag.ingest import ingest


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
