"""Generator choices on the same questions in one run: what each shows, how often it is right, how fast.

Each choice answers the same sampled test questions from the same hits (hybrid search, no re-ranker, no
abstention: min_score 0), checked as served (`aiprime.rag.generate.answer`). Prints, per choice, the share
generated / extractive / abstained, answers shown that fail the re-check (must be 0), the share of answered
that cite the relevant sense, and the answer latency p50 including the check, with each p50 as a ratio of
SmolLM2's measured in the same run.

Usage: python bench/rag_answer_generators.py --splits DIR/splits --collection C [--questions 60]
       [--gguf base-model.gguf ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiprime.rag.answer_eval import evaluate_answers
from aiprime.rag.embed import make_embedder
from aiprime.rag.evaluate import sample_queries
from aiprime.rag.generators import LlamaCppCompletionGenerator, LlamaCppGenerator
from aiprime.services import stack
from aiprime.settings import Settings

SHOWN = ("generated", "extractive", "abstained", "shown_unsupported", "cites_relevant", "seconds_p50")


def main() -> None:
    """Answer the questions with each choice and print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--collection", default="documents")
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--gguf", type=Path, nargs="*", default=[], help="Base models, by plain completion.")
    args = parser.parse_args()
    settings = Settings()
    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    questions = sample_queries(args.splits, args.questions, seed=0)
    choices = {"SmolLM2-135M-Instruct": LlamaCppGenerator(n_threads=1), "extractive only": None}
    choices |= {path.stem: LlamaCppCompletionGenerator(path, n_threads=1) for path in args.gguf}
    baseline = None
    for name, generator in choices.items():
        figures = evaluate_answers(engine, embedder, questions, generator, collection=args.collection)
        p50 = figures["answers/seconds_p50"]
        baseline = baseline or p50
        shown = ", ".join(f"{key} {figures[f'answers/{key}']:.4g}" for key in SHOWN)
        print(
            f"{name}: {shown}, p50 / SmolLM2's {p50 / baseline:.3g} ({len(questions)} questions)", flush=True
        )


if __name__ == "__main__":
    main()
