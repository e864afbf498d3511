"""Training the link on the training folds and registering it in a real MLflow, with the champion gate."""

from __future__ import annotations

import numpy as np
from _helpers.image_pairs import mixing_matrix, synthetic_pairs

from aiprime.multimodal.link import ProjectionConfig, unit
from aiprime.multimodal.preprocess import DEFAULT_CONFIG, config_hash
from aiprime.multimodal.training import StampPairs, load_link, register_link, train_link
from aiprime.registry import mlflow_registry as registry


def stamp_data(mixing: np.ndarray) -> StampPairs:
    pairs = synthetic_pairs(1, 250, mixing)
    return StampPairs(pairs, np.arange(250) % 5)


def test_registered_link_carries_the_preprocessing_hash_and_only_a_better_one_becomes_champion(mlflow_url):
    data = stamp_data(mixing_matrix())
    synsets = unit(np.random.default_rng(4).normal(size=(1000, 384)))
    good = train_link(data, synsets, config=ProjectionConfig(epochs=40))
    poor = train_link(data, synsets, config=ProjectionConfig(epochs=1, learning_rate=1e-5))
    assert good.metrics["val/mrr"] > poor.metrics["val/mrr"]

    first = register_link(mlflow_url, good, synsets, {"data_version": "d1"})
    second = register_link(mlflow_url, poor, synsets)
    assert first.promoted and not second.promoted
    name = registry.registered_name("image-link")
    version = registry.MlflowClient(mlflow_url).get_model_version(name, first.challenger)
    assert version.tags["preprocess_hash"] == config_hash(DEFAULT_CONFIG)
    assert version.tags["projection.epochs"] == "40" and version.tags["data_version"] == "d1"
    champion = load_link(mlflow_url)
    np.testing.assert_array_equal(champion.weight, good.link.weight)
