"""Synthetic image-caption pairs for the image-text link's tests: features that carry their caption."""

from __future__ import annotations

import numpy as np

from aiprime.multimodal.evaluation import PairSet
from aiprime.multimodal.image_tower import FEATURE_DIM, NUM_CLASSES
from aiprime.multimodal.link import unit


def mixing_matrix(seed: int = 99) -> np.ndarray:
    """A fixed random map from caption space (384) to tower features (1280)."""
    return np.random.default_rng(seed).normal(size=(384, FEATURE_DIM)).astype(np.float32)


def synthetic_pairs(seed: int, count: int, mixing: np.ndarray) -> PairSet:
    """Captions (unit 384-d) and images whose features are `mixing` of the caption plus noise; random logits."""
    rng = np.random.default_rng(seed)
    captions = unit(rng.normal(size=(count, 384)))
    features = captions @ mixing + 0.1 * rng.normal(size=(count, FEATURE_DIM))
    logits = rng.normal(size=(count, NUM_CLASSES))
    outputs = np.concatenate([features, logits], axis=1).astype(np.float32)
    return PairSet(outputs, [f"caption {seed}-{i}" for i in range(count)], captions)
