"""BM25 in PostgreSQL: the tokenizer, scores equal to a textbook BM25, statistics kept right by ingest."""

from __future__ import annotations

import math
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from aiprime.rag import lexical, store
from aiprime.rag.corpus import Document
from aiprime.rag.ingest import ingest
from aiprime.rag.search import search

DOCS = [
    Document(
        "pydoc:os.path#join", "pydocs", "computing", "os.path", "os.path.join(path, *paths) joins paths."
    ),
    Document(
        "pydoc:functools#lru", "pydocs", "computing", "functools", "The lru_cache decorator caches calls."
    ),
    Document("wn:1", "wordnet", "living", "dog", "a domesticated canine that barks at dogs and cats"),
    Document("wn:2", "wordnet", "living", "cat", "a small domesticated feline; cats purr"),
    Document("wn:3", "wordnet", "artifacts", "leash", "a line for leading a dog, or a dog's collar"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("os.path.join", ["os.path.join", "os", "path", "join"]),
        ("functools.lru_cache", ["functools.lru_cache", "functool", "lru_cache", "lru", "cach"]),
        ("__init__", ["__init__", "init"]),
        ("HTTPServer getLogger", ["httpserver", "http", "server", "getlogger", "get", "logger"]),
        ("The dogs and the classes", ["dog", "class"]),
        ("the ___ of it", []),
    ],
)
def test_tokens_split_code_identifiers_and_drop_stopwords(text: str, expected: list[str]) -> None:
    assert lexical.tokens(text) == expected


def textbook_bm25(query: str, docs: list[str]) -> list[float]:
    """BM25 (Robertson, Lucene's IDF) computed from scratch over `docs`, the reference for the SQL scores."""
    counts = [Counter(lexical.tokens(d)) for d in docs]
    avgdl = sum(sum(c.values()) for c in counts) / len(counts)
    scores = []
    for tf in counts:
        length, score = sum(tf.values()), 0.0
        for term in set(lexical.tokens(query)):
            df = sum(1 for c in counts if term in c)
            if tf[term]:
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                norm = lexical.K1 * (1 - lexical.B + lexical.B * length / avgdl)
                score += idf * tf[term] * (lexical.K1 + 1) / (tf[term] + norm)
        scores.append(score)
    return scores


def chunk_contents(engine, collection: str) -> dict[int, str]:
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        rows = conn.execute(
            sa.select(store.chunks.c.id, store.chunks.c.content).where(store.chunks.c.collection_id == cid)
        )
        return dict(rows.all())


@pytest.mark.parametrize("query", ["dog collar", "domesticated cats", "os.path.join", "lru_cache"])
def test_bm25_scores_equal_textbook_bm25(engine, embedder, query: str) -> None:
    collection = f"test-bm25-{uuid.uuid4().hex[:8]}"
    ingest(engine, DOCS, embedder, collection=collection)
    contents = chunk_contents(engine, collection)
    expected = dict(zip(contents, textbook_bm25(query, list(contents.values())), strict=True))

    with engine.connect() as conn:
        found = lexical.bm25_ranking(conn, store.collection_id(conn, collection), lexical.tokens(query), 10)

    assert found, query
    assert {item for item, _ in found} == {item for item, score in expected.items() if score > 0}
    for item, score in found:
        assert score == pytest.approx(expected[item], rel=1e-5), (query, item)


def stats_from_scratch(engine, collection: str) -> tuple[int, int, dict[int, int]]:
    """N, total length and every df, recounted from the chunks' contents."""
    counts = [lexical.term_counts(text) for text in chunk_contents(engine, collection).values()]
    df = Counter(term for c in counts for term in c)
    return len(counts), sum(sum(c.values()) for c in counts), dict(df)


def stored_stats(engine, collection: str) -> tuple[int, int, dict[int, int]]:
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        stats = lexical.read_stats(conn, cid)
        t = lexical.lexicon.c
        df = dict(conn.execute(sa.select(t.term_id, t.df).where(t.collection_id == cid)).all())
    return stats.chunks, stats.total_len, df


def test_statistics_stay_right_when_documents_are_added_changed_and_removed(engine, embedder) -> None:
    collection = f"test-bm25-{uuid.uuid4().hex[:8]}"
    ingest(engine, DOCS[:3], embedder, collection=collection)
    assert stored_stats(engine, collection) == stats_from_scratch(engine, collection)

    changed = Document("wn:1", "wordnet", "living", "dog", "a loyal hound")
    ingest(engine, [*DOCS[:2], changed, *DOCS[3:]], embedder, collection=collection)  # one changed, two added
    assert stored_stats(engine, collection) == stats_from_scratch(engine, collection)

    ingest(engine, DOCS[2:4], embedder, collection=collection)  # three removed (pruned), one changed back
    assert stored_stats(engine, collection) == stats_from_scratch(engine, collection)
    hits = search(engine, "os.path.join", embedder, mode="lexical", collection=collection)
    assert hits == []  # the removed section's terms are gone from the lexicon


def test_a_second_refresh_with_nothing_new_writes_nothing(engine, embedder) -> None:
    collection = f"test-bm25-{uuid.uuid4().hex[:8]}"
    ingest(engine, DOCS, embedder, collection=collection)
    with engine.begin() as conn:
        report = lexical.refresh(conn, store.collection_id(conn, collection))
    assert report == lexical.RefreshReport(tokenized=0, reweighted=0, df_recounted=False)


def test_chunks_ingested_before_the_migration_are_filled_by_the_next_refresh(engine, embedder) -> None:
    collection = f"test-bm25-{uuid.uuid4().hex[:8]}"
    ingest(engine, DOCS, embedder, collection=collection)
    with engine.begin() as conn:  # as a store ingested before 0007 looks
        cid = store.collection_id(conn, collection)
        conn.execute(sa.delete(store.chunk_bm25).where(store.chunk_bm25.c.collection_id == cid))
        conn.execute(sa.delete(lexical.stats_table).where(lexical.stats_table.c.collection_id == cid))
    assert search(engine, "dog collar", embedder, mode="lexical", collection=collection) == []

    with engine.begin() as conn:
        report = lexical.refresh(conn, cid)

    assert report.tokenized == len(DOCS)
    assert search(engine, "dog collar", embedder, mode="lexical", collection=collection)[0].doc_id == "wn:3"


def test_the_code_lookup_finds_the_section_by_its_dotted_name(engine, embedder) -> None:
    collection = f"test-bm25-{uuid.uuid4().hex[:8]}"
    ingest(engine, DOCS, embedder, collection=collection)

    hits = search(engine, "os.path.join", embedder, mode="lexical", collection=collection)
    cache = search(engine, "functools.lru_cache", embedder, mode="lexical", collection=collection)

    assert hits[0].doc_id == "pydoc:os.path#join"
    assert cache[0].doc_id == "pydoc:functools#lru"


def common_and_rare_docs() -> list[Document]:
    """300 one-line documents: `use` in all, `make` in two of three (tf 1 or 2), each `zx..` word in two to four."""
    rare = ["zx" + a + b for a in "abcdefghijklm" for b in "abcdefghijklm"]
    return [
        Document(
            f"t:{i}", "wordnet", "living", "note", f"use {'make ' * (i % 3)}{rare[i // 2]} {rare[i // 2 + 1]}"
        )
        for i in range(300)
    ]


@pytest.fixture(scope="module")
def common_and_rare(engine, embedder) -> str:
    collection = f"test-maxscore-{uuid.uuid4().hex[:8]}"
    ingest(engine, common_and_rare_docs(), embedder, collection=collection)
    return collection


@pytest.mark.parametrize(
    "query", ["use zxaa", "make use zxab zxca", "make use", "zxaa zxbm", "use make make zxmm"]
)
@pytest.mark.parametrize("depth", [1, 3, 50])
def test_maxscore_ranks_exactly_as_scoring_every_posting(
    engine, common_and_rare, query, depth, monkeypatch
) -> None:
    read = []
    bm25_top = lexical._bm25_top
    monkeypatch.setattr(lexical, "_bm25_top", lambda *args: read.append(args[3]) or bm25_top(*args))
    with engine.connect() as conn:
        cid = store.collection_id(conn, common_and_rare)
        found = lexical.bm25_ranking(conn, cid, lexical.tokens(query), depth)
        weights = lexical.query_weights(conn, cid, lexical.tokens(query))
        every_posting = bm25_top(conn, cid, weights, set(weights.indices()), depth, [])

    assert found == every_posting
    if query == "use zxaa" and depth == 1:  # zxaa's two chunks outscore any chunk with `use` alone
        assert read == [{lexical.term_id("zxaa")}]
