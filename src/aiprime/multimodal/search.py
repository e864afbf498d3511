"""The image side of cross-modal search: query and stamp vectors in the MiniLM space, nothing stored here.

A query image becomes one unit vector through the champion image-text link (tower, then ConSE floor plus
projection); a text query becomes its fp32 MiniLM embedding, the space the link was trained into. The
retrieval layer (`aiprime.rag.vectors`) stores and searches those vectors; `aiprime.serving.media_search`
joins the two, since packages of one layer do not import each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aiprime.moe.embeddings import encode_texts, model_id
from aiprime.multimodal.image_tower import cached_tower_outputs, encode_images
from aiprime.multimodal.link import ImageTextLink
from aiprime.multimodal.stamps import Stamp

STAMP_SOURCE = "tuxpaint-stamps"
STAMPS_COLLECTION = "stamps"  # the image chunks' collection, in the same rag_chunks table and HNSW index


def stamp_doc_id(stamp: Stamp) -> str:
    """The store's document id of a stamp: `stamp:<path below the stamps folder>`."""
    return f"stamp:{stamp.name}"


def stamp_vectors(
    stamps: list[Stamp], link: ImageTextLink, synset_matrix: np.ndarray, cache_dir: Path
) -> np.ndarray:
    """Unit vectors (N, 384) of the stamps' images through `link` (tower outputs cached by content)."""
    outputs = cached_tower_outputs([s.image.read_bytes() for s in stamps], cache_dir)
    return link.embed(outputs, synset_matrix)


def image_query_vector(data: bytes, link: ImageTextLink, synset_matrix: np.ndarray) -> np.ndarray:
    """The unit vector (384,) of one image file's bytes through `link`.

    Raises:
        PayloadTooLarge, InvalidInput: The bytes are over a bound or are not a supported image (`images[0]`).
    """
    return link.embed(encode_images([data]), synset_matrix)[0]


def text_query_vector(text: str) -> np.ndarray:
    """The unit fp32 MiniLM vector (384,) of `text`: the space the link maps images into."""
    return encode_texts([text])[0]


def text_space() -> str:
    """The text model whose space image vectors live in (for the collection's `embedding_model`)."""
    return model_id()
