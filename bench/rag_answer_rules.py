"""The abstention rules of grounded answers, applied offline to candidates retrieved and scored once.

`collect` retrieves each test (or val) question's hybrid candidates from the store as the retriever does
(RERANK_CANDIDATES of them) and scores them with the champion re-ranker, saving the hits, the re-ranker's
probabilities and its blend share to a pickle: the slow part, run once. `evaluate` then re-ranks them as
`rerank.rerank` does (the blend), keeps the best 4 (what the generator is sent) and answers extractively
(`generate.answer`, no model: which passage is cited does not depend on the generator) under each
min_score and min_share, printing per kind the coverage, the precision (the cited passage is the relevant
one) and the precision at each coverage as the threshold on the answers' confidence rises.

Usage: AIPRIME_HOME=... python bench/rag_answer_rules.py collect --splits DIR/splits --out FILE
           [--split test] [--kinds sense,definition] [--questions 200]
       python bench/rag_answer_rules.py evaluate FILE [--min-score 0.5186] [--min-share 0,0.5,0.6]
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

from aiprime.rag.answer_eval import answer_row, precision_coverage
from aiprime.rag.generate import answer
from aiprime.rag.rerank import blended


def collect(args: argparse.Namespace) -> None:
    """Retrieve and score every question's candidates; pickle them with the question and its target."""
    from aiprime.rag import store
    from aiprime.rag.embed import make_embedder
    from aiprime.rag.evaluate import doc_ids_by_chunk
    from aiprime.rag.evaluate_kinds import queries_of
    from aiprime.rag.rerank import resolve_reranker
    from aiprime.rag.search import RERANK_CANDIDATES, search
    from aiprime.services import stack
    from aiprime.settings import Settings

    settings = Settings()
    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    reranker = resolve_reranker("champion", settings.mlflow_url)
    with engine.connect() as conn:
        stored = set(doc_ids_by_chunk(conn, store.collection_id(conn, args.collection)).values())
    rows = []
    for kind in args.kinds.split(","):
        for q in queries_of(args.splits, kind, args.split, args.questions, 0, stored).itertuples(index=False):
            found = search(engine, q.question, embedder, k=RERANK_CANDIDATES, collection=args.collection)
            probs = reranker.score(q.question, [h.content for h in found]) if found else np.zeros(0)
            rows.append({"split": args.split, "kind": kind, "question": q.question, "relevant": q.relevant,
                         "hits": found, "probs": probs, "share": reranker.share(q.question)})  # fmt: skip
        args.out.write_bytes(pickle.dumps(rows))
        print(kind, "collected", flush=True)


def served_hits(row: dict) -> list:
    """The 4 hits the generator would be sent: the candidates re-ranked as `rerank.rerank` does."""
    if not row["hits"]:
        return []
    scores = blended(row["probs"], [h.score for h in row["hits"]], row["share"])
    ranked = sorted((replace(h, score=float(s)) for h, s in zip(row["hits"], scores, strict=True)),
                    key=lambda h: -h.score)  # fmt: skip
    return ranked[:4]


def evaluate(args: argparse.Namespace) -> None:
    """Per kind, split and min_share: coverage, precision and the precision-coverage curve."""
    rows = pickle.loads(args.file.read_bytes())
    for kind in dict.fromkeys(r["kind"] for r in rows):
        questions = [(r["question"], r["relevant"], served_hits(r)) for r in rows if r["kind"] == kind]
        for min_share in args.min_share:
            answered = [answer_row(answer(q, hits, None, min_score=args.min_score, min_share=min_share), hits, rel)
                        for q, rel, hits in questions]  # fmt: skip
            shown = [r for r in answered if not r["abstained"]]
            curve = precision_coverage(answered)
            points = " ".join(f"{k.split()[1]}:{v:.2f}" for k, v in curve.items() if k.endswith("precision"))
            print(f"{kind} ({len(questions)}), min_score {args.min_score}, min_share {min_share}: coverage "
                  f"{len(shown) / len(answered):.3f}, precision {np.mean([r['cites_relevant'] for r in shown]):.3f}, "
                  f"shown unsupported {sum(not r['grounded'] for r in shown)}; curve {points}")  # fmt: skip


def main() -> None:
    """Run `collect` or `evaluate`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gather = commands.add_parser("collect")
    gather.add_argument("--splits", type=Path, default=Path("data/splits"))
    gather.add_argument("--collection", default="documents")
    gather.add_argument("--out", type=Path, required=True)
    gather.add_argument("--split", default="test")
    gather.add_argument("--kinds", default="sense,definition")
    gather.add_argument("--questions", type=int, default=200)
    judge = commands.add_parser("evaluate")
    judge.add_argument("file", type=Path)
    judge.add_argument("--min-score", type=float, default=0.0)
    judge.add_argument("--min-share", type=lambda text: [float(v) for v in text.split(",")], default=[0.0])
    args = parser.parse_args()
    (collect if args.command == "collect" else evaluate)(args)


if __name__ == "__main__":
    main()
