"""Ingestion: idempotent by content hash, a changed document replaced in one transaction, crash-consistent."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiprime.errors import ConfigError, DataCorrupt
from aiprime.rag import ingest as ingest_module
from aiprime.rag.chunking import chunk_document
from aiprime.rag.corpus import COMPUTING, Document, data_version, load_corpus
from aiprime.rag.embed import Embedder
from aiprime.rag.ingest import ingest


@pytest.fixture(scope="module")
def docs(tiny_corpus: list[Document]) -> list[Document]:
    """20 documents of each source from the tiny real corpus."""
    by_source = {
        source: [d for d in tiny_corpus if d.source == source] for source in ("foldoc", "pydocs", "wordnet")
    }
    return [d for source_docs in by_source.values() for d in source_docs[:20]]


def snapshot(engine, collection: str) -> dict[str, list[tuple]]:
    """Every row of the collection with its xmin (the transaction that last wrote it)."""
    queries = {
        "collection": "SELECT id, xmin::text FROM rag_collections WHERE name = :c",
        "documents": "SELECT d.id, d.xmin::text, d.doc_id FROM rag_documents d JOIN rag_collections c "
        "ON c.id = d.collection_id WHERE c.name = :c ORDER BY d.id",
        "chunks": "SELECT k.id, k.xmin::text, k.content_hash FROM rag_chunks k JOIN rag_collections c "
        "ON c.id = k.collection_id WHERE c.name = :c ORDER BY k.id",
    }
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.text(q), {"c": collection})]
            for name, q in queries.items()
        }


def expected_chunks(docs: list[Document]) -> int:
    return sum(len(chunk_document(d.source, d.title, d.text)) for d in docs)


def test_reingesting_unchanged_data_writes_nothing(engine, docs, embedder, collection) -> None:
    first = ingest(engine, docs, embedder, collection=collection, data_version="v1", batch_size=16)
    before = snapshot(engine, collection)

    second = ingest(engine, docs, embedder, collection=collection, data_version="v1", batch_size=16)

    assert first.inserted == len(docs) and first.chunks_written == expected_chunks(docs) > len(docs)
    assert not second.wrote_anything and second.unchanged == len(docs) and second.chunks_written == 0
    assert snapshot(engine, collection) == before


def test_a_changed_document_replaces_its_chunks_in_one_transaction(
    engine, docs, embedder, collection
) -> None:
    ingest(engine, docs, embedder, collection=collection, batch_size=16)
    before = snapshot(engine, collection)
    target = next(d for d in docs if d.source == "pydocs")
    changed = replace(target, text="A new first paragraph.\n\n" + target.text)

    report = ingest(engine, [changed if d is target else d for d in docs], embedder, collection=collection)

    after = snapshot(engine, collection)
    assert (report.replaced, report.inserted, report.unchanged) == (1, 0, len(docs) - 1)
    new_doc = [row for row in after["documents"] if row[2] == target.doc_id]
    assert len(new_doc) == 1 and new_doc[0] not in before["documents"]
    written = [row for row in after["chunks"] if row not in before["chunks"]]
    assert len(written) == len(chunk_document(changed.source, changed.title, changed.text))
    assert {row[1] for row in written} == {new_doc[0][1]}  # same transaction as the document row
    assert len(after["chunks"]) == len(before["chunks"]) - len(
        chunk_document(target.source, target.title, target.text)
    ) + len(written)
    assert [r for r in after["documents"] if r[2] != target.doc_id] == [
        r for r in before["documents"] if r[2] != target.doc_id
    ]


def test_documents_gone_from_the_input_are_pruned(engine, docs, embedder, collection) -> None:
    ingest(engine, docs, embedder, collection=collection, batch_size=16)

    report = ingest(engine, docs[1:], embedder, collection=collection)

    assert report.deleted == 1
    assert docs[0].doc_id not in [row[2] for row in snapshot(engine, collection)["documents"]]


def test_an_ingest_interrupted_after_two_batches_reruns_to_a_consistent_store(
    engine, docs, embedder, collection, monkeypatch
) -> None:
    calls = {"n": 0}
    real_insert = ingest_module.insert_chunks

    def dies_in_third_batch(conn, rows):
        calls["n"] += 1
        if calls["n"] == 3:  # the documents of this batch are already inserted in the open transaction
            raise KeyboardInterrupt("killed")
        real_insert(conn, rows)

    monkeypatch.setattr(ingest_module, "insert_chunks", dies_in_third_batch)
    with pytest.raises(KeyboardInterrupt):
        ingest(engine, docs, embedder, collection=collection, batch_size=8)
    halfway = snapshot(engine, collection)
    monkeypatch.setattr(ingest_module, "insert_chunks", real_insert)

    rerun = ingest(engine, docs, embedder, collection=collection, batch_size=8)

    assert [row[2] for row in halfway["documents"]] == sorted(d.doc_id for d in docs)[:16]
    assert rerun.inserted == len(docs) - 16 and rerun.unchanged == 16
    final = snapshot(engine, collection)
    assert sorted(row[2] for row in final["documents"]) == sorted(d.doc_id for d in docs)
    hashes = [row[2] for row in final["chunks"]]
    assert len(hashes) == len(set(hashes)) == expected_chunks(docs)
    with engine.connect() as conn:
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM rag_documents d WHERE NOT EXISTS "
                "(SELECT 1 FROM rag_chunks k WHERE k.document_id = d.id)"
            )
        ).scalar()
    assert orphans == 0


def test_a_dimension_that_does_not_match_the_table_is_refused_before_writing(
    engine, docs, collection
) -> None:
    wide = Embedder("wide-model", 512, lambda texts: None)

    with pytest.raises(ConfigError, match=r"dimension 512, but rag_chunks.embedding is vector\(384\)"):
        ingest(engine, docs, wide, collection=collection)

    assert snapshot(engine, collection)["collection"] == []


def test_an_embedder_that_returns_the_wrong_shape_is_refused(engine, docs, collection) -> None:
    liar = Embedder("liar", 384, lambda texts: [[0.0] * 128 for _ in texts])

    with pytest.raises(ConfigError, match=r"returned shape \(\d+, 128\)"):
        ingest(engine, docs, liar, collection=collection)


@pytest.mark.parametrize("text", [b"caf\xe9 latin-1", "lone surrogate \udce9", "nul \x00 byte"])
def test_a_non_utf8_document_is_refused_naming_it_before_writing(
    engine, docs, embedder, collection, text
) -> None:
    bad = Document("foldoc:Broken", "foldoc", COMPUTING, "Broken", text)

    with pytest.raises(DataCorrupt, match="Document 'foldoc:Broken': text"):
        ingest(engine, [*docs, bad], embedder, collection=collection)

    assert snapshot(engine, collection)["documents"] == []


def test_corpus_carries_gate_domains_and_the_dvc_version(tiny_splits: Path, tmp_path: Path) -> None:
    docs = load_corpus(tiny_splits)
    lock = tmp_path / "dvc.lock"
    (tmp_path / "splits").mkdir()
    lock.write_text(
        "stages:\n  splits:\n    outs:\n    - path: splits/queries.parquet\n      md5: q1\n"
        "    - path: splits/documents.parquet\n      md5: d41d8\n"
    )

    domains = {d.source: set() for d in docs}
    for d in docs:
        domains[d.source].add(d.domain)

    assert domains["foldoc"] == domains["pydocs"] == {COMPUTING}
    assert domains["wordnet"] <= {
        "living",
        "artifacts",
        "people_society",
        "abstractions",
        "actions",
        "qualities",
    }
    assert len(domains["wordnet"]) >= 3
    assert data_version(tmp_path / "splits") == "d41d8"
    assert data_version(tmp_path / "elsewhere" / "splits") is None
