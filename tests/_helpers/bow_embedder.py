"""A 384-dim bag-of-words embedder for retrieval tests: deterministic and instant, unlike the real model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from aiprime.rag.embed import Embedder

DIM = 384  # the width of rag_chunks.embedding


def hashed_bag_of_words(texts: Sequence[str], dim: int = DIM) -> np.ndarray:
    """Unit vectors where each lower-cased word adds +-1 at a hashed position: texts sharing words are close."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[^\W_]+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            out[row, int.from_bytes(digest[:4], "little") % dim] += 1.0 if digest[4] % 2 else -1.0
        out[row] /= max(np.linalg.norm(out[row]), 1e-9)
    return out


def bow_embedder() -> Embedder:
    """The bag-of-words embedder, named so that a collection it filled is not searched with another model."""
    return Embedder("hashed-bow-test", DIM, hashed_bag_of_words)
