"""Cross-modal search: embed a query (text or image) with its own model, then search one modality of the store.

The image side (`aiprime.multimodal.search`) and the retrieval side (`aiprime.rag.vectors`) sit on one layer
and do not import each other; this module, above both, joins them. Text -> images searches the stamps'
image chunks; image -> text searches the text collection (glosses, FOLDOC, Python docs); image -> images
searches the stamps again. Every search reads the one `rag_chunks` table through its one HNSW index, with a
`modality` filter.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sqlalchemy.engine import Engine

from aiprime.multimodal.link import ImageTextLink, synset_vectors
from aiprime.multimodal.search import (
    STAMP_SOURCE,
    STAMPS_COLLECTION,
    image_query_vector,
    stamp_doc_id,
    stamp_vectors,
    text_query_vector,
    text_space,
)
from aiprime.multimodal.stamps import Stamp
from aiprime.multimodal.training import ROLE, load_link
from aiprime.rag.search import Hit, check_query
from aiprime.rag.vectors import VectorDocument, search_vector, store_vectors
from aiprime.settings import Settings

Modality = Literal["text", "image"]


def link_model_name() -> str:
    """What made the image chunks' vectors: the image-text link into MiniLM's space."""
    return f"aiprime-{ROLE} -> {text_space()}"


def ingest_stamps(engine: Engine, stamps: list[Stamp], link: ImageTextLink, settings: Settings) -> int:
    """Store every stamp's image vector as a modality-`image` chunk of `stamps`; return how many were written."""
    cache = settings.home / "embeddings"
    vectors = stamp_vectors(stamps, link, synset_vectors(settings.wordnet_dir, cache), cache)  # (N, 384)
    docs = [
        VectorDocument(stamp_doc_id(s), s.caption, STAMP_SOURCE, "", vector)
        for s, vector in zip(stamps, vectors, strict=True)
    ]
    return store_vectors(engine, STAMPS_COLLECTION, docs, "image", link_model_name())


def collection_of(modality: Modality, settings: Settings) -> str:
    """The collection that holds chunks of `modality`: the stamps for images, the corpus for text."""
    return STAMPS_COLLECTION if modality == "image" else settings.rag_collection


def search_text(engine: Engine, text: str, modality: Modality, settings: Settings, k: int = 10) -> list[Hit]:
    """Chunks of `modality` nearest to `text`'s MiniLM vector (text -> images, or text -> text by dense only)."""
    vector = text_query_vector(check_query(text))
    return search_vector(engine, vector, collection_of(modality, settings), modality=modality, k=k)


def search_image(
    engine: Engine,
    data: bytes,
    modality: Modality,
    settings: Settings,
    k: int = 10,
    link: ImageTextLink | None = None,
) -> list[Hit]:
    """Chunks of `modality` nearest to an image file's vector through the champion link (or `link`).

    Raises:
        ModelNotReady: No champion link is registered (run the Dagster job `media`).
        PayloadTooLarge, InvalidInput: The bytes are too large or not a supported image.
    """
    link = link or load_link(settings.mlflow_url)
    synsets = synset_vectors(settings.wordnet_dir, settings.home / "embeddings")
    vector = image_query_vector(data, link, synsets)
    return search_vector(
        engine, np.asarray(vector), collection_of(modality, settings), modality=modality, k=k
    )
