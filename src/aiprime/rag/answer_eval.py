"""Grounded answers measured end to end: retrieve as the retriever server does, generate, check grounding.

For each sampled question: hybrid search's top `RERANK_CANDIDATES` chunks, re-ordered by the re-ranker when
one is given, keep the best `k`; the generator answers from them (abstaining below `min_score`), and
`grounding.groundedness` checks that every cited id was retrieved and that the answer's words are in the
cited text. `calibrate` picks `min_score` on validation questions: the top hit's score separates the
questions whose relevant document was retrieved from those whose was not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from aiprime.rag.embed import Embedder
from aiprime.rag.generate import answer
from aiprime.rag.generators import Generator
from aiprime.rag.grounding import calibrate_min_score, groundedness
from aiprime.rag.search import RERANK_CANDIDATES, Hit, search

Rerank = Callable[[str, list[Hit], int], list[Hit]]  # (question, candidates, top_n) -> best first


def retrieve(
    engine: Engine, embedder: Embedder, question: str, k: int, rerank: Rerank | None, collection: str
) -> list[Hit]:
    """The `k` hits the retriever server would hand the generator for `question`."""
    pool = max(k, RERANK_CANDIDATES) if rerank else k
    found = search(engine, question, embedder, k=pool, collection=collection)
    return rerank(question, found, k) if rerank and found else found


def calibrate(
    engine: Engine,
    embedder: Embedder,
    queries: pd.DataFrame,
    *,
    k: int,
    rerank: Rerank | None,
    collection: str,
) -> tuple[float, dict[str, float]]:
    """`min_score` from `queries` (with `question` and `relevant`), and the figures it was chosen from."""
    found, missed = [], []
    for row in queries.itertuples(index=False):
        hits = retrieve(engine, embedder, row.question, k, rerank, collection)
        top = hits[0].score if hits else 0.0
        (found if row.relevant in {h.doc_id for h in hits} else missed).append(top)
    threshold = calibrate_min_score(found, missed) if found and missed else 0.0
    return threshold, {
        "calibration/questions": float(len(queries)),
        "calibration/relevant_retrieved": len(found) / max(len(queries), 1),
        "calibration/min_score": threshold,
        "calibration/answerable_kept": float(np.mean([s >= threshold for s in found])) if found else 0.0,
        "calibration/unanswerable_refused": float(np.mean([s < threshold for s in missed]))
        if missed
        else 0.0,
    }


def evaluate_answers(
    engine: Engine,
    embedder: Embedder,
    queries: pd.DataFrame,
    generator: Generator,
    *,
    k: int = 4,
    rerank: Rerank | None = None,
    min_score: float = 0.0,
    max_tokens: int = 64,
    collection: str,
) -> dict[str, float]:
    """Share abstained, cited, grounded and citing the relevant document; mean overlap; seconds per answer."""
    rows: list[dict[str, Any]] = []
    for row in queries.itertuples(index=False):
        hits = retrieve(engine, embedder, row.question, k, rerank, collection)
        start = time.perf_counter()
        given = answer(row.question, hits, generator, min_score=min_score, max_tokens=max_tokens)
        rows.append(
            {
                **groundedness(given, hits),
                "seconds": time.perf_counter() - start,
                "abstained": given.abstained,
                "cites_relevant": row.relevant in given.citations,
                "retrieved_relevant": row.relevant in {h.doc_id for h in hits},
            }
        )
    return answer_figures(rows)


def answer_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The means of `evaluate_answers`' per-question rows, as `answers/*` keys."""
    answered = [r for r in rows if not r["abstained"]]
    overlaps = [r["overlap"] for r in answered if r["overlap"] is not None]
    return {
        "answers/questions": float(len(rows)),
        "answers/abstained": float(np.mean([r["abstained"] for r in rows])) if rows else 0.0,
        "answers/retrieved_relevant": float(np.mean([r["retrieved_relevant"] for r in rows]))
        if rows
        else 0.0,
        "answers/cited": float(np.mean([bool(r["cited"]) for r in answered])) if answered else 0.0,
        "answers/grounded": float(np.mean([r["grounded"] for r in answered])) if answered else 0.0,
        "answers/cites_relevant": float(np.mean([r["cites_relevant"] for r in answered]))
        if answered
        else 0.0,
        "answers/overlap": float(np.mean(overlaps)) if overlaps else 0.0,
        "answers/seconds_p50": float(np.median([r["seconds"] for r in answered])) if answered else 0.0,
    }
