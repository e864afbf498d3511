"""Fixtures for the retrieval tests: a tiny real corpus, a fast deterministic embedder, a fresh collection."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from aiprime.data.sources import require_sources
from aiprime.data.stages import stage_processed, stage_raw, stage_splits
from aiprime.db.engine import connect
from aiprime.errors import DataSourceMissing
from aiprime.rag.corpus import Document, load_corpus
from aiprime.rag.embed import Embedder
from aiprime.settings import Settings

DIM = 384


def hashed_bag_of_words(texts: Sequence[str], dim: int = DIM) -> np.ndarray:
    """Unit vectors where each lower-cased word adds +-1 at a hashed position: texts sharing words are close."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[^\W_]+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            out[row, int.from_bytes(digest[:4], "little") % dim] += 1.0 if digest[4] % 2 else -1.0
        out[row] /= max(np.linalg.norm(out[row]), 1e-9)
    return out


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """A 384-dim bag-of-words embedder: deterministic and instant, unlike the real model."""
    return Embedder("hashed-bow-test", DIM, hashed_bag_of_words)


@pytest.fixture(scope="session")
def tiny_splits(tmp_path_factory) -> Path:
    """The real data pipeline run on the first 30 entries of each Debian source (skips if they are absent)."""
    settings = Settings(_env_file=None)
    try:
        require_sources(settings)
    except DataSourceMissing as e:
        pytest.skip(str(e))
    root = tmp_path_factory.mktemp("rag-data")
    stage_raw(settings, root / "raw", limit=30)
    stage_processed(root / "raw", root / "processed")
    stage_splits(root / "processed", root / "splits")
    return root / "splits"


@pytest.fixture(scope="session")
def tiny_corpus(tiny_splits: Path) -> list[Document]:
    """The tiny corpus's documents with their domains."""
    return load_corpus(tiny_splits)


@pytest.fixture(scope="session")
def engine(app_db_url: str) -> Engine:
    """An engine on the session's migrated `aiprime` database."""
    return connect(app_db_url)


@pytest.fixture
def collection() -> str:
    """A collection name no other test uses, so tests share the tables without seeing each other's rows."""
    return f"test-{uuid.uuid4().hex[:12]}"
