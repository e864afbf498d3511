"""Cached sentence embeddings: shapes, normalisation, and a cache hit that never touches the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiprime.moe import embeddings
from aiprime.moe.embeddings import EMBED_DIM, cache_key, embed_texts

TEXTS = ["a domesticated carnivorous mammal", "a motor vehicle with four wheels", "feel happiness"]


@pytest.mark.slow
def test_second_call_reads_the_cache_without_loading_the_model(tmp_path: Path, monkeypatch) -> None:
    first = embed_texts(TEXTS, tmp_path, batch_size=2)
    assert first.shape == (3, EMBED_DIM) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert list(tmp_path.glob("*.npy")) == [tmp_path / f"{cache_key(TEXTS)}.npy"]

    def no_model() -> None:
        raise AssertionError("the model was loaded although the texts are cached")

    monkeypatch.setattr(embeddings, "load_model", no_model)
    np.testing.assert_array_equal(embed_texts(TEXTS, tmp_path), first)


@pytest.mark.slow
def test_model_loads_once_per_process(tmp_path: Path) -> None:
    embed_texts(TEXTS[:1], tmp_path / "a")
    misses = embeddings.load_model.cache_info().misses
    embed_texts(TEXTS[1:], tmp_path / "b")
    assert misses == 1 and embeddings.load_model.cache_info().misses == 1


@pytest.mark.slow
def test_similar_texts_embed_closer_than_unrelated_ones(tmp_path: Path) -> None:
    dog, puppy, car = embed_texts(["a dog", "a young dog", "a car engine"], tmp_path)
    assert dog @ puppy > dog @ car


def test_cache_key_depends_on_content_and_order_only() -> None:
    assert cache_key(["a", "b"]) == cache_key(["a", "b"])
    assert (
        len({cache_key(["a", "b"]), cache_key(["b", "a"]), cache_key(["ab"]), cache_key(["a", "b", ""])}) == 4
    )


def test_no_texts_give_an_empty_matrix(tmp_path: Path) -> None:
    assert embed_texts([], tmp_path).shape == (0, EMBED_DIM)
