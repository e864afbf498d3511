"""The locked EfficientNet-Lite0 tower: its class list, determinism, and the content cache."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aiprime.errors import InvalidInput
from aiprime.multimodal.image_tower import (
    NUM_CLASSES,
    OUTPUT_DIM,
    cached_tower_outputs,
    encode_images,
    imagenet_synsets,
    split_outputs,
)


def drawn_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(out, format="PNG")
    return out.getvalue()


def test_classes_are_the_imagenet_wordnet_noun_synsets_in_order():
    synsets = imagenet_synsets()
    assert len(synsets) == NUM_CLASSES and len(set(synsets)) == NUM_CLASSES
    assert synsets[0] == "n01440764"  # tench, ImageNet's class 0
    assert all(s.startswith("n") and len(s) == 9 for s in synsets)


def test_identical_bytes_give_bit_identical_vectors_whatever_else_is_in_the_batch():
    first, second = drawn_png(1), drawn_png(2)
    alone = encode_images([first])
    in_batch = encode_images([second, first, second])
    assert alone.shape == (1, OUTPUT_DIM)
    assert alone[0].tobytes() == in_batch[1].tobytes()
    assert not np.array_equal(in_batch[0], in_batch[1])


def test_probabilities_are_a_distribution_per_image():
    features, probabilities = split_outputs(encode_images([drawn_png(3)]))
    assert features.shape == (1, 1280) and probabilities.shape == (1, NUM_CLASSES)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_cache_returns_the_stored_outputs_without_recomputing(tmp_path):
    images = [drawn_png(4), drawn_png(5)]
    computed = cached_tower_outputs(images, tmp_path)
    (stored,) = tmp_path.glob("*.npy")
    np.save(stored, computed + 1)  # a cache hit must return the file, not a fresh forward pass
    np.testing.assert_array_equal(cached_tower_outputs(images, tmp_path), computed + 1)


def test_a_bad_image_in_a_batch_names_its_position():
    with pytest.raises(InvalidInput, match=r"^images\[1\]: expected image"):
        encode_images([drawn_png(6), b"not an image"])
