"""Vectors made elsewhere in the store: image chunks written as given, and search by a query vector.

The retrieval side of cross-modal search. An image's vector (the image-text link's output, in the MiniLM
space) is stored as one chunk of modality `image` in `rag_chunks`, under the same HNSW index as the text
chunks; its content is the caption, so a hit reads like a text hit. A query vector of any modality then
searches the chunks of one modality with pgvector's filtered (iterative) HNSW scan. Nothing here embeds:
the caller brings vectors, so this layer never imports the image tower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from aiprime.errors import InvalidInput
from aiprime.rag import store
from aiprime.rag.search import EF_SEARCH, Filters, Hit, check_k, dense_ranking, hydrate


@dataclass(frozen=True)
class VectorDocument:
    """A document whose one chunk's vector was made by another model (e.g. a stamp image's link vector)."""

    doc_id: str  # e.g. stamp:animals/amphibians/frog
    title: str  # what a hit shows: the caption
    source: str  # e.g. tuxpaint-stamps
    domain: str  # a gate domain, or "" when unknown
    vector: np.ndarray  # (384,) unit vector in the MiniLM space


def _content_hash(doc: VectorDocument, modality: str, model: str) -> str:
    digest = hashlib.sha256(f"{doc.doc_id}\n{doc.title}\n{modality}\n{model}\n".encode())
    digest.update(np.ascontiguousarray(doc.vector, dtype=np.float32).tobytes())
    return digest.hexdigest()


def store_vectors(
    engine: Engine, collection: str, docs: Sequence[VectorDocument], modality: str, model: str
) -> int:
    """Replace `collection`'s documents by `docs`, one chunk of `modality` each; return how many were written.

    `model` names what made the vectors (e.g. `aiprime-image-link@3`) and becomes the collection's
    `embedding_model`. Unchanged documents (same content hash) are kept as they are; documents of the
    collection that are not in `docs` are deleted.
    """
    store.check_modality(modality)
    wanted = {d.doc_id: _content_hash(d, modality, model) for d in docs}
    with engine.begin() as conn:
        store.check_dim(conn, len(docs[0].vector) if docs else store.EMBED_DIM, f"The vectors of {model}")
        cid = _open_collection(conn, collection, model)
        stored = dict(conn.execute(sa.select(store.documents.c.doc_id, store.documents.c.content_hash)
                                   .where(store.documents.c.collection_id == cid)).all())  # fmt: skip
        stale = [doc_id for doc_id, digest in stored.items() if wanted.get(doc_id) != digest]
        if stale:
            d = store.documents.c
            conn.execute(sa.delete(store.documents).where(d.collection_id == cid, d.doc_id.in_(stale)))
        fresh = [doc for doc in docs if stored.get(doc.doc_id) != wanted[doc.doc_id]]
        for doc in fresh:
            _insert(conn, cid, doc, modality, wanted[doc.doc_id])
    return len(fresh)


def _open_collection(conn: sa.Connection, name: str, model: str) -> int:
    conn.execute(
        insert(store.collections)
        .values(name=name, embedding_model=model, meta={})
        .on_conflict_do_update(index_elements=["name"], set_={"embedding_model": model})
    )
    return store.collection_id(conn, name)


def _insert(conn: sa.Connection, cid: int, doc: VectorDocument, modality: str, digest: str) -> None:
    row = {"collection_id": cid, "doc_id": doc.doc_id, "content_hash": digest, "source": doc.source,
           "domain": doc.domain, "title": doc.title, "data_version": None}  # fmt: skip
    document_id = conn.execute(insert(store.documents).values(row).returning(store.documents.c.id)).scalar()
    conn.execute(
        insert(store.chunks).values(
            document_id=document_id, collection_id=cid, chunk_index=0, content_hash=digest,
            source=doc.source, domain=doc.domain, content=doc.title, modality=modality,
            embedding=np.asarray(doc.vector, dtype=np.float32),
        )
    )  # fmt: skip


def search_vector(
    engine: Engine,
    vector: np.ndarray,
    collection: str,
    *,
    modality: str | None,
    k: int = 10,
    ef_search: int = EF_SEARCH,
) -> list[Hit]:
    """The `k` chunks of `collection` (of `modality`, if given) nearest to `vector` by cosine.

    Raises:
        InvalidInput: k out of range, an unknown modality, or a vector that is not finite.
        ConfigError: The vector's dimension differs from the table's.
        NotFound: The collection does not exist.
    """
    k, modality = check_k(k), store.check_modality(modality)
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if not np.isfinite(vector).all() or not vector.any():
        raise InvalidInput("The query vector is zero or not finite; embed a real image or text.")
    with engine.begin() as conn:
        cid = store.collection_id(conn, collection)
        store.check_dim(conn, vector.shape[0], "The query vector")
        store.set_search_params(conn, ef_search, iterative=True)
        return hydrate(conn, dense_ranking(conn, cid, vector, k, Filters(modality=modality)))
