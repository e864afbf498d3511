"""Benchmark: image -> caption retrieval on the openclipart drawings, with links trained on the stamps, on the
drawings, and on both.

Run: .venv/bin/python bench/clipart_retrieval.py [--drawings 2000] [--seed 0] [--cache-dir DIR]
Data: the titled drawings of Debian's openclipart-svg (AIPRIME_CLIPART_DIR, `aiprime.multimodal.clipart`), a
seeded sample of `--drawings` of those whose title is not a collection's (`clipart.captioned`), rendered and run
through the image tower like any SVG upload (a drawing the upload checks refuse is counted and left out), with
caption-disjoint folds like the stamps' (`training.drawing_pairs`). Each fold is tested in turn on both sets (the
next fold validates, the rest train), as `bench/image_retrieval.py` does for the stamps: three links are fitted
(projection on train, floor weight on val) on the stamps, on the drawings and on both (`image_link`'s recipe),
and each is scored on both test folds (every image ranks its test fold's distinct captions; floor alone,
projection alone and link), pooled over the five folds. Tower outputs and MiniLM embeddings are cached by
content under --cache-dir (default AIPRIME_HOME/embeddings).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import replace

import numpy as np

from aiprime.multimodal.clipart import captioned, read_drawings
from aiprime.multimodal.evaluation import fit_link, joined, retrieval_metrics, set_ranks
from aiprime.multimodal.link import synset_vectors
from aiprime.multimodal.stamps import FOLDS, read_stamps
from aiprime.multimodal.training import StampPairs, drawing_pairs, stamp_pairs
from aiprime.settings import Settings

WEIGHTS = {"floor": lambda link: 1.0, "projection": lambda link: 0.0, "link": lambda link: link.floor_weight}


def fold_ranks(data: dict[str, StampPairs], fold: int, synset_matrix: np.ndarray) -> dict[tuple, np.ndarray]:
    """With `fold` tested: ranks per (trained on, tested on, method) for the links trained on the stamps, on
    the drawings and on both."""
    role = lambda role: {name: pairs.role(fold, role) for name, pairs in data.items()}
    train, val, test = role("train"), role("val"), role("test")
    train["both"], val["both"] = (joined([r["stamps"], r["drawings"]]) for r in (train, val))
    ranks = {}
    for trained_on in ("stamps", "drawings", "both"):
        link = fit_link(train[trained_on], val[trained_on], synset_matrix)
        for tested_on, pairs in test.items():
            for method, weight in WEIGHTS.items():
                chosen = replace(link, floor_weight=weight(link))
                ranks[trained_on, tested_on, method] = set_ranks(chosen, pairs, synset_matrix)
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drawings", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="default: AIPRIME_HOME/embeddings")
    args = parser.parse_args()
    settings = Settings()
    cache_dir = args.cache_dir or settings.home / "embeddings"
    titled = captioned(read_drawings(settings.clipart_dir))
    sample = random.Random(args.seed).sample(titled, min(args.drawings, len(titled)))
    drawings, refused = drawing_pairs(sample, cache_dir)
    data = {"stamps": stamp_pairs(read_stamps(settings.stamps_dir), cache_dir), "drawings": drawings}
    synset_matrix = synset_vectors(settings.wordnet_dir, cache_dir)
    pooled: dict[tuple, list] = {}
    for fold in range(FOLDS):
        for key, ranks in fold_ranks(data, fold, synset_matrix).items():
            pooled.setdefault(key, []).append(ranks)
    report = {
        "captioned_drawings": len(titled),
        "sampled": len(sample),
        "refused": refused,
        "pairs": {name: len(pairs.folds) for name, pairs in data.items()},
    }
    for (trained_on, tested_on, method), ranks in pooled.items():
        scores = retrieval_metrics(np.concatenate(ranks))
        report.setdefault(f"trained on {trained_on}", {}).setdefault(tested_on, {})[method] = scores
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
