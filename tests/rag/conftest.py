"""Fixtures for the retrieval tests: a tiny real corpus, a fast deterministic embedder, a fresh collection."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from _helpers.bow_embedder import bow_embedder
from sqlalchemy.engine import Engine

from aiprime.data.sources import require_sources
from aiprime.data.stages import stage_processed, stage_raw, stage_splits
from aiprime.db.engine import connect
from aiprime.errors import DataSourceMissing
from aiprime.rag.corpus import Document, load_corpus
from aiprime.rag.embed import Embedder
from aiprime.settings import Settings


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """A 384-dim bag-of-words embedder: deterministic and instant, unlike the real model."""
    return bow_embedder()


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
