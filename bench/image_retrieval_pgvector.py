"""Benchmark: image -> caption retrieval through pgvector (the modality column and the HNSW index), beside the
same ranking done exactly in memory, on the Tux Paint stamps, 5-fold caption-disjoint.

Run: .venv/bin/python bench/image_retrieval_pgvector.py --home /tmp/x/.aiprime [--cache-dir DIR]
The embedded PostgreSQL of `--home` is started (and stopped at the end unless it ran before); nothing else
is touched. For each test fold the link is fitted as in `bench/image_retrieval.py` (projection on three
folds, floor weight on the fourth); the fold's distinct captions (MiniLM vectors, modality `text`) go into
a collection of `rag_chunks`, and each test image's link vector searches it with `search_vector(modality="text", k=10)`: the dense path of the store, through its one HNSW index with
pgvector's iterative scan and the modality filter (the store's other collections share the table and the
index, as the stamps' image chunks do in a full home). R@10 counts an image whose own caption is among the 10
hits; the in-memory figure ranks the same vectors exactly (`truth_ranks`). Pooled over the five folds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.db import embedded
from aiprime.multimodal.evaluation import PairSet, fit_link, truth_ranks
from aiprime.multimodal.link import ImageTextLink, synset_vectors
from aiprime.multimodal.stamps import FOLDS, read_stamps
from aiprime.multimodal.training import stamp_pairs
from aiprime.rag.vectors import VectorDocument, search_vector, store_vectors
from aiprime.services import stack
from aiprime.settings import Settings

K = 10


@dataclass
class FoldResult:
    """One test fold's hits: whether each image's caption is in the top 10, in pgvector and in memory."""

    pgvector: list[bool]
    in_memory: list[bool]
    search_ms: list[float]


def caption_documents(test: PairSet) -> list[VectorDocument]:
    """The fold's distinct captions as stored text chunks (`caption:<index into the gallery>`)."""
    gallery, _ = test.gallery()
    return [VectorDocument(f"caption:{i}", c, "bench-captions", "", v)
            for i, (c, v) in enumerate(zip(sorted(set(test.captions)), gallery, strict=True))]  # fmt: skip


def run_fold(engine, fold: int, link: ImageTextLink, test: PairSet, synsets: np.ndarray) -> FoldResult:
    """Store the fold's chunks, then search every image among the captions in pgvector and in memory."""
    vectors = link.embed(test.outputs, synsets)  # (N, 384)
    gallery, truth = test.gallery()
    collection = f"bench-image-captions-{fold}"
    store_vectors(engine, collection, caption_documents(test), "text", "all-MiniLM-L6-v2")
    result = FoldResult([], [], [])
    in_memory = truth_ranks(vectors, gallery, truth) <= K
    for vector, own, exact in zip(vectors, truth, in_memory, strict=True):
        start = time.perf_counter()
        hits = search_vector(engine, vector, collection, modality="text", k=K)
        result.search_ms.append((time.perf_counter() - start) * 1000)
        result.pgvector.append(f"caption:{own}" in {h.doc_id for h in hits})
        result.in_memory.append(bool(exact))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, required=True, help="AIPRIME_HOME whose embedded PostgreSQL to use"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: <home>/embeddings")
    args = parser.parse_args()
    settings = Settings(home=args.home, _env_file=None)
    cache_dir = args.cache_dir or settings.home / "embeddings"
    was_running = embedded.running_url(settings.pg_dir) is not None
    stamps = read_stamps(settings.stamps_dir)
    data = stamp_pairs(stamps, cache_dir)
    synsets = synset_vectors(settings.wordnet_dir, cache_dir)
    engine = stack.ready_app_db(settings)
    try:
        folds = []
        for fold in range(FOLDS):
            link = fit_link(data.role(fold, "train"), data.role(fold, "val"), synsets)
            folds.append(run_fold(engine, fold, link, data.role(fold, "test"), synsets))
    finally:
        engine.dispose()
        if not was_running:
            stack.down(settings)
    pooled = {
        name: float(np.mean([x for f in folds for x in getattr(f, name)]))
        for name in ("pgvector", "in_memory")
    }
    times = [t for f in folds for t in f.search_ms]
    report = {
        "stamps": len(stamps),
        "recall_at_10": pooled,
        "search_ms_p50": float(np.percentile(times, 50)),
        "search_ms_p95": float(np.percentile(times, 95)),
        "load_average_1m": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
