"""Calibrate `generate.MIN_SENSE_SHARE` on val sense questions and check it on test ones, through the store.

For each sense question (`What does "X" mean in "S"?`) the k hits the served stack hands the generator
(hybrid search, re-ranked by the champion re-ranker) give a chosen passage and its `sense_share`: how much
of the score of the hits naming X it holds (0 when none names X, or when the best hit scores below the
re-ranker's calibrated min_score, as served: those abstain anyway). The threshold is the lowest at which the
chosen passage is the relevant one for at least --precision of the val questions answered; the test
questions then show the precision and coverage it gives, beside the precision by how many senses of X
were retrieved, and the best hit's score as the alternative confidence.

Usage: AIPRIME_HOME=... python bench/rag_answer_confidence.py --splits DIR/splits [--questions 200]
       [--precision 0.65] [--reranker champion|none|DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiprime.rag import store
from aiprime.rag.answer_eval import calibrate_share, sense_choices, share_figures
from aiprime.rag.embed import make_embedder
from aiprime.rag.evaluate import doc_ids_by_chunk
from aiprime.rag.evaluate_kinds import queries_of
from aiprime.rag.generate import MIN_SENSE_SHARE
from aiprime.rag.rerank import rerank, resolve_reranker
from aiprime.services import stack
from aiprime.settings import Settings


def main() -> None:
    """Print the val threshold, then the test figures at it and at MIN_SENSE_SHARE."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--collection", default="documents")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--precision", type=float, default=0.65)
    parser.add_argument("--reranker", default="champion")
    args = parser.parse_args()
    settings = Settings()
    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    model = resolve_reranker(args.reranker, settings.mlflow_url)
    bound = (lambda q, hits, top_n: rerank(q, hits, model, top_n)) if model is not None else None
    with engine.connect() as conn:
        stored = set(doc_ids_by_chunk(conn, store.collection_id(conn, args.collection)).values())
    choices = {
        split: sense_choices(
            engine,
            embedder,
            queries_of(args.splits, "sense", split, args.questions, 0, stored),
            rerank=bound,
            min_score=model.min_score or 0.0 if model is not None else 0.0,
            collection=args.collection,
        )
        for split in ("val", "test")
    }
    threshold, figures = calibrate_share(choices["val"], args.precision)
    print(f"reranker {model.source if model else 'none'} (min_score {model.min_score if model else None}); val:",
          rounded(figures))  # fmt: skip
    for name, value in (("val threshold", threshold), ("MIN_SENSE_SHARE in use", MIN_SENSE_SHARE)):
        print(f"test, {name} {value:.3f}:", rounded(share_figures(choices["test"], value)))
    by_senses = choices["test"].groupby(choices["test"].senses.clip(upper=3)).correct.agg(["mean", "size"])
    print("test, chosen is relevant by senses of the word among the hits (3: 3 or more):")
    print(by_senses.round(3).to_string())


def rounded(figures: dict[str, float]) -> dict[str, float]:
    """The figures to 3 decimals."""
    return {k: round(v, 3) for k, v in figures.items()}


if __name__ == "__main__":
    main()
