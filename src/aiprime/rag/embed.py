"""The embedder the store is filled with: a name (part of every content hash), a dimension, a function.

The default wraps `aiprime.moe.embeddings.embed_texts` (all-MiniLM-L6-v2 from its wheel, cached on disk by
content), so the gate and retrieval share one model and one cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.moe import embeddings
from aiprime.settings import Settings


@dataclass(frozen=True)
class Embedder:
    """Turns texts into unit-norm float32 vectors of `dim` columns."""

    name: str  # model id and version: a new model changes every document's hash, so all are re-embedded
    dim: int  # vector width; must match the store's `rag_chunks.embedding` column
    embed: Callable[[Sequence[str]], np.ndarray]  # texts -> (N, dim) float32


def default_embedder(settings: Settings, batch_size: int = 64) -> Embedder:
    """all-MiniLM-L6-v2 through the shared disk cache under `settings.home / "embeddings"`."""
    cache_dir = Path(settings.home) / "embeddings"
    return Embedder(
        embeddings.model_id(),
        embeddings.EMBED_DIM,
        lambda texts: embeddings.embed_texts(list(texts), cache_dir, batch_size),
    )
