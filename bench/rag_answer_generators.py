"""Generator choices on the same questions in one run: what each shows, how often it is right, how fast.

Each question is retrieved once as the served stack does (hybrid search, re-ranked by the champion
re-ranker, the best 4 hits), then every choice answers it from those hits, checked as served
(`aiprime.rag.generate.answer`, abstaining below the re-ranker's calibrated threshold of the query's kind
and, for sense questions, below MIN_SENSE_SHARE). Prints, per choice and query kind, the share generated / extractive /
abstained, answers shown that fail the re-check (must be 0), the share of answered that cite the relevant
passage, and the answer latency p50 including the check, with each p50 as a ratio of SmolLM2's measured in
the same run. With AIPRIME_GENERATOR_URL set, that OpenAI-compatible endpoint is measured too.

Usage: AIPRIME_HOME=... python bench/rag_answer_generators.py --splits DIR/splits [--questions 60]
       [--kinds sense,definition] [--gguf gemma-3-270m-q4_k_m.gguf ...] [--reranker champion|none|DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aiprime.rag import store
from aiprime.rag.answer_eval import answer_figures, answer_row, retrieve
from aiprime.rag.embed import make_embedder
from aiprime.rag.evaluate import doc_ids_by_chunk
from aiprime.rag.evaluate_kinds import queries_of
from aiprime.rag.generate import MIN_SENSE_SHARE, answer
from aiprime.rag.generators import (
    Generator,
    LlamaCppCompletionGenerator,
    LlamaCppGenerator,
    generator_from_settings,
)
from aiprime.rag.rerank import rerank, resolve_reranker
from aiprime.services import stack
from aiprime.settings import Settings

SHOWN = ("generated", "extractive", "abstained", "shown_unsupported", "cites_relevant", "seconds_p50")


def main() -> None:
    """Retrieve each kind's questions once, answer them with each choice and print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--collection", default="documents")
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--kinds", default="sense")
    parser.add_argument("--reranker", default="champion")
    parser.add_argument("--gguf", type=Path, nargs="*", default=[], help="Base models, by plain completion.")
    args = parser.parse_args()
    settings = Settings()
    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    model = resolve_reranker(args.reranker, settings.mlflow_url)
    bound = (lambda q, hits, top_n: rerank(q, hits, model, top_n)) if model is not None else None
    min_scores = model.thresholds() if model is not None else {}  # per query kind, as the served stack
    with engine.connect() as conn:
        stored = set(doc_ids_by_chunk(conn, store.collection_id(conn, args.collection)).values())
    for kind in args.kinds.split(","):
        questions = queries_of(args.splits, kind, "test", args.questions, 0, stored)
        retrieved = [
            (q.question, q.relevant, retrieve(engine, embedder, q.question, 4, bound, args.collection))
            for q in questions.itertuples(index=False)
        ]
        min_score = min_scores.get(kind, 0.0)
        print(f"{kind}: {len(retrieved)} test questions, min_score {min_score:.4g}", flush=True)
        compare(retrieved, choices(settings, args.gguf), min_score)


def choices(settings: Settings, ggufs: list[Path]) -> dict[str, Generator | None]:
    """SmolLM2 first (the baseline of the latency ratios), extractive only, each base GGUF, the endpoint."""
    found: dict[str, Generator | None] = {
        "SmolLM2-135M-Instruct": LlamaCppGenerator(n_threads=1),
        "extractive only": None,
    }
    found |= {path.stem: LlamaCppCompletionGenerator(path, n_threads=1) for path in ggufs}
    if settings.generator_url:
        found[f"endpoint {settings.generator_url}"] = generator_from_settings(settings)
    return found


def compare(retrieved: list, generators: dict[str, Generator | None], min_score: float) -> None:
    """Answer every retrieved question with each generator; one line of figures each."""
    baseline = None
    for name, generator in generators.items():
        rows = []
        for question, relevant, hits in retrieved:
            start = time.perf_counter()
            given = answer(question, hits, generator, min_score=min_score, min_share=MIN_SENSE_SHARE)
            rows.append(answer_row(given, hits, relevant) | {"seconds": time.perf_counter() - start})
        figures = answer_figures(rows)
        p50 = figures["answers/seconds_p50"]
        baseline = baseline or p50
        shown = ", ".join(f"{key} {figures[f'answers/{key}']:.4g}" for key in SHOWN)
        print(f"  {name}: {shown}, p50 / SmolLM2's {p50 / baseline:.3g}", flush=True)
        if isinstance(generator, LlamaCppGenerator):
            generator.close()


if __name__ == "__main__":
    main()
