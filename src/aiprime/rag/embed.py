"""The embedder the store is filled with: a name (part of every content hash), a dimension, a function.

`make_embedder` picks the model that `settings.rag_embedder` names: `minilm` (all-MiniLM-L6-v2 from its wheel
through sentence-transformers, the model the gate also uses) or `minilm-int8` (its int8 ONNX export,
`aiprime.rag.onnx_embed`). Both share the disk cache of `aiprime.moe.embeddings`, keyed by the model's id,
so the gate and retrieval share one cache and the two models never read each other's vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.moe import embeddings
from aiprime.rag import onnx_embed
from aiprime.settings import Settings

Encode = Callable[[Sequence[str], int], np.ndarray]  # (texts, batch_size) -> (N, 384) float32, unit-norm
MODELS: dict[str, tuple[Callable[[], str], Encode]] = {  # settings.rag_embedder -> (model id, encoder)
    "minilm": (embeddings.model_id, embeddings.encode_texts),
    "minilm-int8": (onnx_embed.model_id, onnx_embed.encode),
}


@dataclass(frozen=True)
class Embedder:
    """Turns texts into unit-norm float32 vectors of `dim` columns."""

    name: str  # model id and version: a new model changes every document's hash, so all are re-embedded
    dim: int  # vector width; must match the store's `rag_chunks.embedding` column
    embed: Callable[[Sequence[str]], np.ndarray]  # texts -> (N, dim) float32


def make_embedder(settings: Settings, cached: bool = True, batch_size: int = 64) -> Embedder:
    """The embedder `settings.rag_embedder` names.

    Args:
        settings: `rag_embedder` picks the model; `home / "embeddings"` holds the disk cache.
        cached: read and write the disk cache (ingest, evaluation); False computes every call (a server's
            questions, which are not worth keeping).
        batch_size: texts per forward pass of the model.
    """
    model_id, encode = MODELS[settings.rag_embedder]
    name, dim, cache_dir = model_id(), embeddings.EMBED_DIM, Path(settings.home) / "embeddings"

    def compute(texts: Sequence[str]) -> np.ndarray:
        return encode(list(texts), batch_size)  # (N, 384)

    if not cached:
        return Embedder(name, dim, compute)
    return Embedder(name, dim, lambda texts: embeddings.cached_embeddings(texts, cache_dir, name, compute))
