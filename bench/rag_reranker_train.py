"""Train the re-ranker on every query kind as the Dagster asset `reranker` would, and print its val figures.

It mines hybrid candidates of sense questions (train split) and of each built kind's val queries whose
targets are not held out, fine-tunes the cross-encoder, chooses the per-kind blend with the fused score on
the held-out val queries, and prints each kind's val MRR@10 (hybrid, re-ranker alone, blended) with the
time of mining and training. Score the saved folder on test with
`python bench/rag_quality.py --home H --reranker OUT`.

Run: `python bench/rag_reranker_train.py --home PATH --out DIR [--splits data/splits] [--train-queries 900]
[--kind-queries 100] [--val-queries 100] [--epochs 1] [--max-len 64] [--layers 6] [--frozen-layers 2]`
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="AIPRIME_HOME of the store to mine")
    parser.add_argument("--out", type=Path, required=True, help="folder the re-ranker is saved into")
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--train-queries", type=int, default=900, help="train-split sense questions")
    parser.add_argument("--kind-queries", type=int, default=100, help="val-split queries of each built kind")
    parser.add_argument("--val-queries", type=int, default=100, help="held-out val queries per kind")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--frozen-layers", type=int, default=2, help="lowest encoder layers kept as MiniLM's")
    args = parser.parse_args()
    if args.home:
        os.environ["AIPRIME_HOME"] = str(args.home.resolve())
    from aiprime.rag.embed import make_embedder
    from aiprime.rag.rerank import RerankerConfig
    from aiprime.rag.rerank_train import RerankerTrainConfig, train_reranker
    from aiprime.services import stack
    from aiprime.settings import Settings

    settings = Settings()
    config = RerankerTrainConfig(
        train_queries=args.train_queries,
        kind_queries=args.kind_queries,
        val_queries=args.val_queries,
        epochs=args.epochs,
        frozen_layers=args.frozen_layers,
    )
    start, cpu = time.perf_counter(), time.process_time()
    trained = train_reranker(
        stack.ready_app_db(settings),
        make_embedder(settings),
        args.splits,
        args.out,
        config,
        RerankerConfig(max_len=args.max_len, layers=args.layers),
        collection=settings.rag_collection,
        on_progress=report,
    )
    for name, value in trained.metrics.items():
        print(f"{name:32s} {value:.4f}")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"blend {trained.reranker.blend}; {wall:.0f} s wall, {cpu:.0f} s CPU (all threads); saved in {args.out}"
    )


def report(stage: str, done: int, total: int) -> None:
    """One line per 10% of a stage."""
    if done == total or done % max(1, total // 10) == 0:
        print(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total}", flush=True)


if __name__ == "__main__":
    main()
