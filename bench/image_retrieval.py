"""Benchmark: image -> caption retrieval, image -> domain, and image embedding latency on the Tux Paint stamps.

Run: .venv/bin/python bench/image_retrieval.py [--cache-dir DIR] [--latency-images 60] [--threads 2]
Data: the stamps of Debian's tuxpaint-stamps-default (AIPRIME_STAMPS_DIR), read in place; tower outputs and
MiniLM embeddings are cached by content under --cache-dir (default AIPRIME_HOME/embeddings).

- Retrieval, 5-fold caption-disjoint: for each test fold, the projection trains on three folds, the floor's
  weight is chosen on the next fold, and each test image ranks the test fold's distinct captions. Reported
  pooled over the five test folds for the ConSE floor alone, the projection alone, and the combined link.
  Targets (issue 16): R@10 >= 0.45, median rank <= 15.
- Domain: the image expert's domain (class probabilities summed per domain) against the domain of the first
  WordNet sense of the noun each caption names, on the stamps whose caption names one; with the share of
  the most frequent domain for scale.
- Latency: bytes -> unit vector (decode, tower, link) per image on `--threads` threads; wall p50 and p95
  (target p95 <= 120 ms on 2 threads), CPU ms and the load average beside them (wall time on a shared machine
  measures its load too); and whether identical bytes gave bit-identical vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from aiprime.data.domains import DOMAINS
from aiprime.multimodal.evaluation import fit_link, retrieval_metrics, set_ranks
from aiprime.multimodal.image_expert import caption_domain, domain_scores
from aiprime.multimodal.image_tower import encode_images, split_outputs
from aiprime.multimodal.link import synset_vectors
from aiprime.multimodal.stamps import FOLDS, read_stamps
from aiprime.multimodal.training import StampPairs, stamp_pairs
from aiprime.serving.base_server import limit_threads
from aiprime.settings import Settings


def retrieval(data: StampPairs, synset_matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Pooled test-fold metrics of the floor alone, the projection alone and the link; the chosen weights."""
    ranks: dict[str, list[np.ndarray]] = {"floor": [], "projection": [], "link": []}
    weights = []
    for fold in range(FOLDS):
        link = fit_link(data.role(fold, "train"), data.role(fold, "val"), synset_matrix)
        test = data.role(fold, "test")
        weights.append(link.floor_weight)
        for name, weight in (("floor", 1.0), ("projection", 0.0), ("link", link.floor_weight)):
            ranks[name].append(set_ranks(replace(link, floor_weight=weight), test, synset_matrix))
    result = {name: retrieval_metrics(np.concatenate(r)) for name, r in ranks.items()}
    return result | {"floor_weights": {str(f): w for f, w in enumerate(weights)}}


def domain_accuracy(data: StampPairs, wordnet_dir: Path) -> dict[str, float]:
    """The image expert's accuracy on the stamps whose caption names a WordNet noun."""
    truth = [caption_domain(c, wordnet_dir) for c in data.pairs.captions]
    named = np.flatnonzero([t is not None for t in truth])
    _, probabilities = split_outputs(data.pairs.outputs[named])
    predicted = [DOMAINS[i] for i in domain_scores(probabilities, wordnet_dir).argmax(axis=1)]
    expected = [truth[i] for i in named]
    majority = Counter(expected).most_common(1)[0]
    return {
        "stamps": float(len(named)),
        "accuracy": float(np.mean([p == e for p, e in zip(predicted, expected, strict=True)])),
        "majority_share": majority[1] / len(named),
    }


def latency(images: list[bytes], link, synset_matrix: np.ndarray) -> dict[str, float]:
    """Per-image milliseconds from bytes to unit vector (after one warm-up), and the determinism check."""
    embed = lambda data: link.embed(encode_images([data]), synset_matrix)
    first = embed(images[0])
    wall, cpu = [], []
    for data in images:
        start, start_cpu = time.perf_counter(), time.process_time()
        embed(data)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return {
        "images": float(len(images)),
        "p50_ms": float(np.percentile(wall, 50)),
        "p95_ms": float(np.percentile(wall, 95)),
        "cpu_ms_p50": float(np.percentile(cpu, 50)),  # CPU time of all threads: less sensitive to other load
        "load_average_1m": os.getloadavg()[0],
        "bit_identical": float(embed(images[0]).tobytes() == first.tobytes()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: AIPRIME_HOME/embeddings")
    parser.add_argument("--latency-images", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-only", action="store_true", help="skip retrieval and domain accuracy")
    args = parser.parse_args()
    settings = Settings()
    cache_dir = args.cache_dir or settings.home / "embeddings"
    stamps = read_stamps(settings.stamps_dir)
    data = stamp_pairs(stamps, cache_dir)
    synset_matrix = synset_vectors(settings.wordnet_dir, cache_dir)
    report = {"stamps": len(stamps), "captions": len(set(data.pairs.captions))}
    if not args.latency_only:
        report["retrieval"] = retrieval(data, synset_matrix)
        report["domain"] = domain_accuracy(data, settings.wordnet_dir)
    limit_threads(args.threads)  # as a model server sets its threads
    link = fit_link(data.role(4, "train"), data.role(4, "val"), synset_matrix)
    step = max(1, len(stamps) // args.latency_images)
    report["latency"] = latency([s.image.read_bytes() for s in stamps[::step]], link, synset_matrix)
    report["latency"]["threads"] = float(args.threads)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
