"""Load documents into the store: idempotent, batched, one transaction per batch.

Each document has a content hash over everything that shapes its chunks (embedding model, chunk budget,
source, domain, title, text). Ingesting compares those hashes with the stored ones: unchanged documents are
not touched (re-ingesting unchanged data writes nothing), new ones are inserted, and a changed one has its
document row and chunks replaced in the same transaction. Batches commit one by one in doc_id order, so a
run killed halfway leaves whole documents only, and the next run carries on where it stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from aiprime.errors import ConfigError, InvalidInput
from aiprime.rag import lexical, store
from aiprime.rag.chunking import MAX_TOKENS, Chunk, TokenCounter, chunk_document
from aiprime.rag.corpus import Document, check_text, data_version, load_corpus
from aiprime.rag.embed import Embedder

DEFAULT_COLLECTION = "documents"
BATCH_SIZE = 256  # documents per transaction (and per embedding call)


@dataclass
class IngestReport:
    """What one ingest run changed."""

    inserted: int = 0  # documents new to the collection
    replaced: int = 0  # documents whose content hash changed
    unchanged: int = 0  # documents left as they were
    deleted: int = 0  # stored documents no longer in the input (with prune)
    chunks_written: int = 0
    batches: int = 0
    hnsw_build_s: float | None = field(default=None)  # set by callers that (re)build the index

    @property
    def wrote_anything(self) -> bool:
        """Whether the run changed any row."""
        return bool(self.inserted or self.replaced or self.deleted)


def document_hash(doc: Document, model: str, max_tokens: int) -> str:
    """sha256 of what determines a document's chunks and vectors, each part length-prefixed."""
    digest = hashlib.sha256()
    for part in (model, str(max_tokens), doc.source, doc.domain, doc.title, doc.text):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def chunk_hash(doc_id: str, chunk: Chunk) -> str:
    """sha256 of a chunk's document, position and content: unique within a collection."""
    return hashlib.sha256(f"{doc_id}\x00{chunk.index}\x00{chunk.content}".encode()).hexdigest()


def validate_documents(docs: Iterable[Document]) -> list[Document]:
    """The documents with UTF-8-checked fields; DataCorrupt or InvalidInput before anything is written."""
    checked, seen = [], set()
    for doc in docs:
        if doc.doc_id in seen:
            raise InvalidInput(f"Document id {doc.doc_id!r} appears twice in the input; ids must be unique.")
        seen.add(doc.doc_id)
        fields = {
            name: check_text(str(doc.doc_id), name, getattr(doc, name))
            for name in ("doc_id", "source", "domain", "title", "text")
        }
        checked.append(Document(**fields))
    return checked


def ingest(
    engine: Engine,
    docs: Iterable[Document],
    embedder: Embedder,
    *,
    collection: str = DEFAULT_COLLECTION,
    data_version: str | None = None,
    batch_size: int = BATCH_SIZE,
    max_tokens: int = MAX_TOKENS,
    count_tokens: TokenCounter | None = None,
    prune: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Bring `collection` in line with `docs`, writing only what changed.

    Args:
        engine: The `aiprime` database (migrated to 0002 or later).
        docs: Every document the collection should hold.
        embedder: Embeds chunk contents; its `dim` must match the table.
        collection: Name of the collection (created on first use).
        data_version: The DVC md5 of the documents table, stored on the collection and its documents.
        batch_size: Documents per transaction.
        max_tokens: Token budget per chunk of a split source.
        count_tokens: Token counter for chunking; the model's word pieces by default.
        prune: Delete stored documents that are not in `docs`.
        on_batch: Called with (documents done, documents to do) after each committed batch.

    Raises:
        ConfigError: If the embedder's dimension differs from the table's.
        DataCorrupt: If a document is not valid UTF-8 (before anything is written).
    """
    if batch_size < 1:
        raise InvalidInput(f"batch_size={batch_size}; use at least 1 (default {BATCH_SIZE}).")
    docs = validate_documents(docs)
    cid, stored = _open_collection(engine, collection, embedder)
    hashes = {doc.doc_id: document_hash(doc, embedder.name, max_tokens) for doc in docs}
    todo = [doc for doc in docs if stored.get(doc.doc_id) != hashes[doc.doc_id]]
    report = IngestReport(unchanged=len(docs) - len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        pieces = [chunk_document(d.source, d.title, d.text, max_tokens, count_tokens) for d in batch]
        vectors = _embed(embedder, [c.content for doc_chunks in pieces for c in doc_chunks])
        with engine.begin() as conn:  # one batch, one transaction: a kill loses at most this batch
            replaced = _replace_batch(conn, cid, batch, pieces, vectors, hashes, data_version)
        report.inserted, report.replaced = report.inserted + len(batch) - replaced, report.replaced + replaced
        report.chunks_written, report.batches = report.chunks_written + len(vectors), report.batches + 1
        if on_batch:
            on_batch(start + len(batch), len(todo))
    with engine.begin() as conn:
        report.deleted = _prune(conn, cid, set(stored) - set(hashes)) if prune else 0
        _finish_collection(conn, cid, embedder.name, data_version, max_tokens)
        lexical.refresh(conn, cid)  # BM25 weights of new chunks; N, df and avgdl after adds and removals
        if report.wrote_anything:  # fresh statistics, so the planner weighs filters against the HNSW index
            conn.execute(sa.text("ANALYZE rag_documents, rag_chunks"))
    return report


def _open_collection(engine: Engine, collection: str, embedder: Embedder) -> tuple[int, dict[str, str]]:
    """The collection's id (created if new) and its stored doc_id -> content hash, after the dimension check."""
    docs_t = store.documents
    with engine.begin() as conn:
        store.check_dim(conn, embedder.dim, f"The embedder {embedder.name}")
        cid = _ensure_collection(conn, collection, embedder.name)
        query = sa.select(docs_t.c.doc_id, docs_t.c.content_hash).where(docs_t.c.collection_id == cid)
        return cid, dict(conn.execute(query).all())


def _embed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)  # (N, dim)
    if vectors.shape != (len(texts), embedder.dim):
        raise ConfigError(
            f"The embedder {embedder.name} returned shape {vectors.shape} for {len(texts)} texts; "
            f"expected ({len(texts)}, {embedder.dim}). Check its `dim` and model."
        )
    return vectors


def _ensure_collection(conn: Connection, name: str, model: str) -> int:
    """The collection's id, inserting it (without a data version until a run completes) if new."""
    if not name.strip():
        raise InvalidInput("The collection name is empty; pass a name such as 'documents'.")
    conn.execute(
        insert(store.collections)
        .values(name=name, embedding_model=model, meta={})
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return store.collection_id(conn, name)


def _replace_batch(
    conn: Connection,
    cid: int,
    batch: list[Document],
    pieces: list[list[Chunk]],
    vectors: np.ndarray,
    hashes: dict[str, str],
    data_version: str | None,
) -> int:
    """Delete the batch's old rows (chunks cascade), insert documents and chunks; return how many were old."""
    docs_t = store.documents
    replaced = conn.execute(
        sa.delete(docs_t).where(docs_t.c.collection_id == cid, docs_t.c.doc_id.in_([d.doc_id for d in batch]))
    ).rowcount
    rows = [
        {
            "collection_id": cid,
            "doc_id": d.doc_id,
            "content_hash": hashes[d.doc_id],
            "source": d.source,
            "domain": d.domain,
            "title": d.title,
            "data_version": data_version,
        }
        for d in batch
    ]
    ids = (
        conn.execute(insert(docs_t).returning(docs_t.c.id, sort_by_parameter_order=True), rows)
        .scalars()
        .all()
    )
    chunk_rows, row = [], 0
    for doc, doc_id, doc_chunks in zip(batch, ids, pieces, strict=True):
        for chunk in doc_chunks:
            chunk_rows.append(
                {
                    "document_id": doc_id,
                    "collection_id": cid,
                    "chunk_index": chunk.index,
                    "content_hash": chunk_hash(doc.doc_id, chunk),
                    "source": doc.source,
                    "domain": doc.domain,
                    "content": chunk.content,
                    "embedding": vectors[row],
                }
            )
            row += 1
    insert_chunks(conn, chunk_rows)
    return replaced


def insert_chunks(conn: Connection, rows: list[dict]) -> None:
    """Insert chunk rows; one whose (collection, content hash) exists is skipped."""
    if rows:
        conn.execute(
            insert(store.chunks).on_conflict_do_nothing(constraint="uq_rag_chunks_collection_hash"), rows
        )


def _prune(conn: Connection, cid: int, doc_ids: set[str]) -> int:
    if not doc_ids:
        return 0
    docs_t = store.documents
    return conn.execute(
        sa.delete(docs_t).where(docs_t.c.collection_id == cid, docs_t.c.doc_id.in_(sorted(doc_ids)))
    ).rowcount


def _finish_collection(
    conn: Connection, cid: int, model: str, data_version: str | None, max_tokens: int
) -> None:
    """Record the model, data version and chunk budget of a completed run, only if one of them changed."""
    t = store.collections
    wanted = {"embedding_model": model, "data_version": data_version, "meta": {"max_tokens": max_tokens}}
    current = conn.execute(
        sa.select(t.c.embedding_model, t.c.data_version, t.c.meta).where(t.c.id == cid)
    ).one()
    if dict(current._mapping) != wanted:
        conn.execute(sa.update(t).where(t.c.id == cid).values(**wanted, updated_at=sa.func.now()))


def ingest_splits(
    engine: Engine,
    splits_dir: Path,
    embedder: Embedder,
    *,
    collection: str = DEFAULT_COLLECTION,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    hnsw: store.HnswParams | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest the `splits` stage's documents with their domains and data version, then ensure the HNSW index.

    Args:
        engine: The `aiprime` database.
        splits_dir: Folder holding documents.parquet and classification.parquet (`data/splits`).
        embedder: The embedding model.
        collection: Collection name.
        limit: Keep the first N documents of each source (a small slice); all when None.
        batch_size: Documents per transaction.
        hnsw: Index parameters; pgvector's defaults when None.
        on_batch: Progress callback, (documents done, documents to do).
    """
    docs = load_corpus(splits_dir, limit)
    report = ingest(
        engine,
        docs,
        embedder,
        collection=collection,
        data_version=data_version(splits_dir),
        batch_size=batch_size,
        prune=True,
        on_batch=on_batch,
    )
    report.hnsw_build_s = store.ensure_hnsw_index(engine, hnsw or store.HnswParams())
    return report
