"""A retrieval collection of a few documents for the tests that run the retriever."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from aiprime.db.engine import connect
from aiprime.rag.corpus import Document
from aiprime.rag.embed import make_embedder
from aiprime.rag.ingest import ingest
from aiprime.settings import Settings


def ingested_collection(app_db_url: str, docs: Sequence[Document], embedding_cache: Path, prefix: str) -> str:
    """`docs` in a new collection named `<prefix>-<random>`, embedded with the retriever's model
    (`AIPRIME_RAG_EMBEDDER`, all-MiniLM-L6-v2 int8 by default); its name."""
    embedder = make_embedder(Settings(home=embedding_cache.parent, _env_file=None))
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    engine = connect(app_db_url)
    ingest(engine, list(docs), embedder, collection=name)
    engine.dispose()
    return name


DOG = "a domestic animal that barks and is kept as a pet"  # a question the gate routes to expert-living
DOG_GLOSS = Document(
    "wn:dog.n.01", "wordnet", "living", "dog", "dog: a domesticated animal that barks, kept as a pet"
)
