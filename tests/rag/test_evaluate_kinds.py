"""Evaluation per query kind on the tiny corpus: the fusion chosen on val never loses there to either arm."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from aiprime.rag import fusion
from aiprime.rag.evaluate_kinds import (
    ARMS,
    choose_fusion,
    evaluate_kind,
    objective,
    rank_arms,
    stored_doc_ids,
)
from aiprime.rag.ingest import ingest
from aiprime.rag.query_kinds import built_queries


@pytest.fixture(scope="module")
def ranked(engine, tiny_corpus, tiny_splits, embedder):
    """Keyword queries of the tiny corpus, val and test, ranked by every arm."""
    collection = f"test-kinds-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus, embedder, collection=collection)
    cid, doc_of = stored_doc_ids(engine, collection)
    out = {}
    for split in ("val", "test"):
        frame = built_queries(tiny_splits, "keyword", split, 30, 0, set(doc_of.values()))
        out[split] = rank_arms(engine, cid, frame, np.asarray(embedder.embed(list(frame.question))), 100)
    return cid, doc_of, out


def mean_objective(queries, ranking_of, doc_of) -> float:
    return float(np.mean([objective(ranking_of(q), q.relevant, doc_of) for q in queries]))


def test_the_fusion_chosen_on_val_is_at_least_either_arm_there(ranked) -> None:
    _, doc_of, queries = ranked
    val = queries["val"]

    chosen = choose_fusion(val, doc_of)

    fused = mean_objective(val, lambda q: chosen.fuse(*q.pair(chosen.complete)), doc_of)
    assert chosen in fusion.GRID
    assert fused >= mean_objective(val, lambda q: q.arms["dense"], doc_of)
    assert fused >= mean_objective(val, lambda q: q.arms["bm25"], doc_of)


def test_evaluate_kind_scores_every_method_on_test_and_times_hybrid(engine, ranked) -> None:
    cid, doc_of, queries = ranked

    chosen, result = evaluate_kind(engine, cid, queries["val"], queries["test"], doc_of)

    for method in (*ARMS, "hybrid", "hybrid_rrf60"):
        assert 0.0 <= result[f"{method}/recall_at_1"] <= result[f"{method}/recall_at_10"] <= 1.0
    assert result["hybrid/p95_ms"] >= result["hybrid/p50_ms"] > 0
    assert chosen == choose_fusion(queries["val"], doc_of)
    assert not any(key.startswith("hybrid+rerank") for key in result)  # no re-ranker given
