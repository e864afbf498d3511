"""Vectors made by another model in the store: image chunks beside text chunks, searched by modality."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from aiprime.errors import InvalidInput
from aiprime.rag import store
from aiprime.rag.ingest import ingest
from aiprime.rag.vectors import VectorDocument, search_vector, store_vectors


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, store.EMBED_DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stamp_docs(vectors: np.ndarray) -> list[VectorDocument]:
    return [
        VectorDocument(f"stamp:s{i}", f"Stamp {i}.", "tuxpaint-stamps", "", v) for i, v in enumerate(vectors)
    ]


def test_image_chunks_are_found_by_vector_and_filtered_by_modality(engine, embedder, tiny_corpus, collection):
    ingest(engine, tiny_corpus[:20], embedder, collection=collection)
    vectors = unit_vectors(5)
    assert store_vectors(engine, collection + "-img", stamp_docs(vectors), "image", "link") == 5

    hits = search_vector(engine, vectors[3], collection + "-img", modality="image", k=3)
    assert hits[0].doc_id == "stamp:s3" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert not search_vector(engine, vectors[3], collection + "-img", modality="text", k=3)
    text_hits = search_vector(engine, embedder.embed(["a dog"])[0], collection, modality="text", k=4)
    assert len(text_hits) == 4 and not any(h.doc_id.startswith("stamp:") for h in text_hits)


def test_existing_chunks_migrate_as_text_and_one_hnsw_index_serves_both(
    engine, embedder, tiny_corpus, collection
):
    ingest(engine, tiny_corpus[:5], embedder, collection=collection)
    store_vectors(engine, collection + "-img", stamp_docs(unit_vectors(2)), "image", "link")
    store.ensure_hnsw_index(engine)
    with engine.connect() as conn:
        cids = [store.collection_id(conn, name) for name in (collection, collection + "-img")]
        c = store.chunks.c
        counts = dict(
            conn.execute(
                sa.select(c.modality, sa.func.count()).where(c.collection_id.in_(cids)).group_by(c.modality)
            ).all()
        )
        indexes = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'rag_chunks' AND indexdef LIKE '%hnsw%'"
            )
        ).scalar()
    assert counts["image"] == 2 and counts["text"] >= 5
    assert indexes == 1


def test_storing_again_writes_only_changed_vectors_and_drops_missing_ones(engine, collection):
    vectors = unit_vectors(4)
    store_vectors(engine, collection, stamp_docs(vectors), "image", "link")
    vectors[1] = unit_vectors(1, seed=9)[0]
    assert store_vectors(engine, collection, stamp_docs(vectors[:3]), "image", "link") == 1
    hits = search_vector(engine, vectors[1], collection, modality="image", k=10)
    assert hits[0].doc_id == "stamp:s1" and len(hits) == 3


@pytest.mark.parametrize(
    ("modality", "vector", "field"),
    [("video", unit_vectors(1)[0], "modality"), ("image", np.zeros(store.EMBED_DIM), "vector")],
)
def test_bad_query_is_refused_naming_the_problem(engine, collection, modality, vector, field):
    store_vectors(engine, collection, stamp_docs(unit_vectors(1)), "image", "link")
    with pytest.raises(InvalidInput, match=field):
        search_vector(engine, vector, collection, modality=modality, k=3)
