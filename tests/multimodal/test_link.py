"""The image-text link: the ConSE floor, the contrastive projection, retrieval ranks, saving and loading."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _helpers.image_pairs import mixing_matrix, synthetic_pairs

from aiprime.multimodal.evaluation import PairSet, fit_link, retrieval_metrics, set_ranks, truth_ranks
from aiprime.multimodal.image_tower import FEATURE_DIM, NUM_CLASSES
from aiprime.multimodal.link import ImageTextLink, ProjectionConfig, conse, unit

FAST = ProjectionConfig(epochs=40)


@pytest.fixture(scope="module")
def mixing() -> np.ndarray:
    return mixing_matrix()


def test_conse_is_the_probability_weighted_mean_of_the_top_synsets():
    synsets = np.eye(NUM_CLASSES, 384, dtype=np.float32)
    probabilities = np.zeros((1, NUM_CLASSES), np.float32)
    probabilities[0, [3, 7, 9]] = [0.6, 0.3, 0.1]
    vector = conse(probabilities, synsets, top_k=2)
    np.testing.assert_allclose(vector[0, [3, 7, 9]], unit(np.array([[0.6, 0.3, 0.0]]))[0], rtol=1e-6)


def test_projection_learns_to_retrieve_unseen_captions(mixing):
    train, val, test = (synthetic_pairs(s, n, mixing) for s, n in ((1, 400), (2, 60), (3, 60)))
    synsets = unit(np.random.default_rng(4).normal(size=(NUM_CLASSES, 384)))
    link = fit_link(train, val, synsets, FAST)
    learned = retrieval_metrics(set_ranks(link, test, synsets))
    floor_only = retrieval_metrics(set_ranks(replace(link, floor_weight=1.0), test, synsets))
    assert learned["recall_at_1"] > 0.8, learned
    assert floor_only["recall_at_10"] < 0.5, floor_only  # the floor knows nothing of random logits
    assert link.floor_weight <= 0.2  # validation picks the projection here


def test_ranks_count_ties_against_the_image_and_duplicate_captions_share_an_entry():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(truth_ranks(np.array([[1.0, 0.0]]), gallery, np.array([0])), [2])
    pairs = PairSet(np.zeros((3, 2)), ["b", "a", "b"], np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    vectors, truth = pairs.gallery()
    np.testing.assert_array_equal(vectors, [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(truth, [1, 0, 1])


def test_metrics_of_known_ranks():
    metrics = retrieval_metrics(np.array([1, 2, 11, 30]))
    assert metrics["recall_at_1"] == 0.25 and metrics["recall_at_10"] == 0.5
    assert metrics["median_rank"] == 6.5
    assert metrics["mrr"] == pytest.approx((1 + 0.5 + 1 / 11 + 1 / 30) / 4)


def test_saved_link_loads_to_the_same_vectors(tmp_path, mixing):
    pairs = synthetic_pairs(5, 8, mixing)
    rng = np.random.default_rng(6)
    link = ImageTextLink(
        rng.normal(size=FEATURE_DIM).astype(np.float32),
        np.ones(FEATURE_DIM, np.float32),
        rng.normal(size=(FEATURE_DIM, 384)).astype(np.float32),
        0.3,
    )
    synsets = unit(rng.normal(size=(NUM_CLASSES, 384)))
    link.save(tmp_path / "link.npz")
    loaded = ImageTextLink.load(tmp_path / "link.npz")
    assert loaded.embed(pairs.outputs, synsets).tobytes() == link.embed(pairs.outputs, synsets).tobytes()
