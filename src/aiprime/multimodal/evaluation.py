"""Image -> caption retrieval metrics, and fitting the link on one caption-disjoint fold split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiprime.multimodal.image_tower import split_outputs
from aiprime.multimodal.link import (
    DEFAULT_PROJECTION,
    ImageTextLink,
    ProjectionConfig,
    conse,
    train_projection,
    unit,
)

FLOOR_WEIGHTS = tuple(
    round(float(w), 2) for w in np.linspace(0.0, 1.0, 11)
)  # the grid searched on validation


@dataclass(frozen=True)
class PairSet:
    """Images (tower outputs) and their captions; stamps sharing a caption share one gallery entry."""

    outputs: np.ndarray  # (N, 2280) tower outputs
    captions: list[str]  # (N,) caption of each image
    caption_vectors: np.ndarray  # (N, 384) unit MiniLM embedding of each image's caption

    def gallery(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct captions' vectors (C, 384) and each image's index into them (N,)."""
        distinct = sorted(set(self.captions))
        index = {c: i for i, c in enumerate(distinct)}
        first = [self.captions.index(c) for c in distinct]
        return self.caption_vectors[first], np.array([index[c] for c in self.captions])


def joined(sets: Sequence[PairSet]) -> PairSet:
    """The pairs of every set in `sets`, in order (captions shared across sets share a gallery entry)."""
    return PairSet(
        np.concatenate([s.outputs for s in sets]),
        [c for s in sets for c in s.captions],
        np.concatenate([s.caption_vectors for s in sets]),
    )


def truth_ranks(image_vectors: np.ndarray, gallery: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The 1-based rank of each image's own caption among the gallery by cosine (ties count against it)."""
    scores = image_vectors @ gallery.T  # (N, C)
    own = scores[np.arange(len(truth)), truth][:, None]
    return (scores >= own).sum(axis=1)


def retrieval_metrics(ranks: np.ndarray) -> dict[str, float]:
    """Recall at 1, 5 and 10, MRR and the median rank of a set of ranks."""
    return {
        "recall_at_1": float(np.mean(ranks <= 1)),
        "recall_at_5": float(np.mean(ranks <= 5)),
        "recall_at_10": float(np.mean(ranks <= 10)),
        "mrr": float(np.mean(1.0 / ranks)),
        "median_rank": float(np.median(ranks)),
    }


def set_ranks(link: ImageTextLink, pairs: PairSet, synset_matrix: np.ndarray) -> np.ndarray:
    """Ranks of each image's caption among `pairs`' distinct captions under `link`."""
    gallery, truth = pairs.gallery()
    return truth_ranks(link.embed(pairs.outputs, synset_matrix), gallery, truth)


def fit_link(
    train: PairSet, val: PairSet, synset_matrix: np.ndarray, config: ProjectionConfig = DEFAULT_PROJECTION
) -> ImageTextLink:
    """A projection trained on `train`, combined with the floor at the weight with the best MRR on `val`."""
    features, _ = split_outputs(train.outputs)
    mean, scale, weight = train_projection(features, train.caption_vectors, config)
    val_features, val_probabilities = split_outputs(val.outputs)
    floor = conse(val_probabilities, synset_matrix)
    projected = ImageTextLink(mean, scale, weight, 0.0).project(val_features)
    gallery, truth = val.gallery()
    best = max(
        FLOOR_WEIGHTS,
        key=lambda w: np.mean(1.0 / truth_ranks(unit(w * floor + (1 - w) * projected), gallery, truth)),
    )
    return ImageTextLink(mean, scale, weight, best)
