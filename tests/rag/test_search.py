"""Search: RRF on a hand-computed case, filters that still return k, the preferred domain, bad input."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aiprime.db.urls import parse_url
from aiprime.errors import ConfigError, InvalidInput, NotFound
from aiprime.rag import fusion, store
from aiprime.rag import search as search_module
from aiprime.rag.corpus import Document
from aiprime.rag.embed import Embedder
from aiprime.rag.ingest import ingest
from aiprime.rag.search import (
    Filters,
    completed_arms,
    dense_ranking,
    key_terms,
    lexical_ranking,
    ranking,
    rrf,
    search,
    tsquery_text,
)


@pytest.fixture(scope="module")
def indexed(engine, tiny_corpus: list[Document], embedder: Embedder) -> str:
    """The whole tiny corpus in a collection of its own, with the HNSW index built."""
    name = f"test-search-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus, embedder, collection=name)
    store.ensure_hnsw_index(engine)
    return name


def test_rrf_matches_the_hand_computed_scores() -> None:
    fused = rrf([[1, 2, 3], [3, 1, 4]], k=60)

    assert [item for item, _ in fused] == [1, 3, 2, 4]
    expected = {1: 1 / 61 + 1 / 62, 3: 1 / 63 + 1 / 61, 2: 1 / 62, 4: 1 / 63}
    assert {item: score for item, score in fused} == pytest.approx(expected, abs=1e-12)


def test_rrf_weights_scale_each_list() -> None:
    fused = dict(rrf([[1, 2], [2, 1]], k=0, weights=[1.0, 3.0]))

    assert fused == pytest.approx({1: 1 / 1 + 3 / 2, 2: 1 / 2 + 3 / 1})


def test_any_match_joins_the_words_with_or_and_all_keeps_websearch_syntax() -> None:
    assert tsquery_text("she was ___ to program, or not", "any") == "she or was or to or program or not"
    assert tsquery_text('"exact phrase" -without', "all") == '"exact phrase" -without'


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ('What does "courting" mean in "We were courting for over ten years"?', ["courting"]),
        ("What is \u201cice cream\u201d, or \u201cice-cream\u201d?", ["ice cream"]),
        ('Is "a" or "b" better than "a"?', ["a", "b"]),
        ('Explain "the whole of this long sentence here"', []),
        ("no quotes at all", []),
    ],
)
def test_key_terms_are_the_short_quoted_spans(question: str, terms: list[str]) -> None:
    assert key_terms(question) == terms


def test_key_match_searches_the_quoted_terms_and_falls_back_to_every_word() -> None:
    assert tsquery_text('What does "courting" mean in "We were courting for years"?', "key") == '"courting"'
    assert tsquery_text('"ice cream" or "sorbet"', "key") == '"ice cream" or "sorbet"'
    assert tsquery_text("she was able", "key") == tsquery_text("she was able", "any") == "she or was or able"


@pytest.fixture(scope="module")
def hnsw_only(app_db_url: str) -> Engine:
    """An engine whose planner must take the HNSW index, as it does on a large table (the tiny one is read
    through the collection's btree otherwise)."""
    options = "-c enable_seqscan=off -c enable_bitmapscan=off -c enable_sort=off"
    return sa.create_engine(parse_url(app_db_url), connect_args={"options": options})


def test_a_selective_filter_still_returns_k(hnsw_only, indexed, embedder) -> None:
    query, only_foldoc = "a program that runs on a computer", Filters(source="foldoc")
    vector = np.asarray(embedder.embed([query]))[0]
    with hnsw_only.begin() as conn:
        cid = store.collection_id(conn, indexed)
        store.set_search_params(conn, ef_search=10, iterative=False)
        post_filtered = dense_ranking(conn, cid, vector, 10, only_foldoc, exact_fallback=False)
        store.set_search_params(conn, ef_search=10, iterative=True)
        iterative = dense_ranking(conn, cid, vector, 10, only_foldoc, exact_fallback=False)

    hits = search(
        hnsw_only, query, embedder, k=10, mode="dense", collection=indexed, filters=only_foldoc, ef_search=10
    )

    assert len(post_filtered) < 10  # the plain HNSW scan finds 10 neighbours, then the filter drops most
    assert len(iterative) == 10  # pgvector 0.8 scans on until 10 rows pass
    assert len(hits) == 10 and {h.source for h in hits} == {"foldoc"}


def test_when_the_index_scan_still_falls_short_the_query_is_rerun_exactly(
    hnsw_only, indexed, embedder
) -> None:
    query, only_foldoc = "a program", Filters(source="foldoc")
    vector = np.asarray(embedder.embed([query]))[0]
    with hnsw_only.begin() as conn:
        cid = store.collection_id(conn, indexed)
        store.set_search_params(conn, ef_search=10, iterative=False)  # as if the iterative scan gave up
        cut_short = dense_ranking(conn, cid, vector, 10, only_foldoc, exact_fallback=False)
        complete = dense_ranking(conn, cid, vector, 10, only_foldoc)
        exact = (
            conn.execute(
                sa.select(store.chunks.c.id)
                .where(store.chunks.c.collection_id == cid, store.chunks.c.source == "foldoc")
                .order_by(store.chunks.c.embedding.cosine_distance(vector), store.chunks.c.id)
            )
            .scalars()
            .all()
        )

    assert len(cut_short) < 10
    assert [item for item, _ in complete] == exact[:10]


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_domain_filter_returns_k_of_that_domain(engine, indexed, embedder, mode) -> None:
    hits = search(
        engine,
        "the quality of being able",
        embedder,
        k=5,
        mode=mode,
        collection=indexed,
        filters=Filters(domain="qualities"),
    )

    assert len(hits) == 5 and {h.domain for h in hits} == {"qualities"}


def test_lexical_search_returns_only_matching_chunks_of_the_filtered_source(
    engine, indexed, embedder
) -> None:
    hits = search(
        engine,
        "object reference",
        embedder,
        k=5,
        mode="lexical",
        collection=indexed,
        filters=Filters(source="pydocs"),
    )

    assert len(hits) == 5 and {h.source for h in hits} == {"pydocs"}
    assert all("object" in h.content.lower() or "refer" in h.content.lower() for h in hits)


def test_a_preferred_domain_lifts_its_documents_without_hiding_the_others(engine, indexed, embedder) -> None:
    query = "a person or a thing that is able to act"
    plain = search(engine, query, embedder, k=20, collection=indexed)
    domain = next(h.domain for h in plain[1:] if h.domain != plain[0].domain)
    first_rank = next(i for i, h in enumerate(plain) if h.domain == domain)

    preferred = search(engine, query, embedder, k=20, collection=indexed, prefer_domain=domain)

    assert preferred[0].domain == domain != plain[0].domain
    assert sum(h.domain == domain for h in preferred) > sum(h.domain == domain for h in plain)
    assert first_rank > 0 and any(h.domain != domain for h in preferred)


def test_key_match_ranks_only_chunks_with_the_quoted_word(engine, indexed, embedder) -> None:
    question = 'What does "able" mean in "a program that runs on a computer"?'

    key = search(engine, question, embedder, k=10, mode="lexical", collection=indexed)
    every_word = search(engine, question, embedder, k=10, mode="lexical", collection=indexed, match="any")

    assert key and all(re.search(r"\bable\b", h.content, re.IGNORECASE) for h in key)
    assert any(not re.search(r"\bable\b", h.content, re.IGNORECASE) for h in every_word)


def test_an_unknown_match_is_refused(engine, indexed, embedder) -> None:
    with pytest.raises(InvalidInput, match="match='some'; use key"):
        search(engine, "dog", embedder, collection=indexed, match="some")


@pytest.mark.parametrize(
    ("query", "k", "mode", "message"),
    [
        ("", 10, "hybrid", "The query is empty"),
        ("   \n", 10, "hybrid", "The query is empty"),
        ("word " * 401, 10, "hybrid", "The query has 2,005 characters; the limit is 2,000"),
        ("lone \udce9", 10, "dense", "not valid UTF-8"),
        ("dog", 0, "hybrid", "k=0 is out of range"),
        ("dog", 10, "fuzzy", "mode='fuzzy'; use hybrid, dense or lexical"),
    ],
)
def test_bad_queries_are_refused_with_the_fix(engine, indexed, embedder, query, k, mode, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        search(engine, query, embedder, k=k, mode=mode, collection=indexed)


def test_an_unknown_collection_says_how_to_create_it(engine, embedder) -> None:
    with pytest.raises(NotFound, match="rag ingest --collection nowhere"):
        search(engine, "dog", embedder, collection="nowhere")


def test_a_query_embedder_of_another_dimension_is_refused(engine, indexed) -> None:
    small = Embedder("small-model", 128, lambda texts: np.zeros((len(texts), 128), dtype=np.float32))

    with pytest.raises(
        ConfigError, match=r"small-model has dimension 128, but rag_chunks.embedding is vector\(384\)"
    ):
        search(engine, "dog", small, collection=indexed)


def test_the_index_is_rebuilt_only_when_its_parameters_change(engine, indexed) -> None:
    assert store.ensure_hnsw_index(engine) is None  # built by the fixture with the defaults
    assert store.ensure_hnsw_index(engine, store.HnswParams(m=8, ef_construction=32)) > 0
    with engine.connect() as conn:
        assert store.hnsw_params(conn) == store.HnswParams(m=8, ef_construction=32)
    store.ensure_hnsw_index(engine)
    with pytest.raises(InvalidInput, match="ef_construction in 2\\*m..1000"):
        store.HnswParams(m=16, ef_construction=16)


def test_a_query_of_stop_words_finds_nothing_lexically_and_hybrid_falls_back_to_dense(
    engine, indexed, embedder
):
    assert search(engine, "the ___ of it", embedder, mode="lexical", collection=indexed) == []
    assert len(search(engine, "the ___ of it", embedder, k=7, collection=indexed)) == 7


@pytest.mark.parametrize("ranker", ["bm25", "ts_rank_cd"])
def test_completed_arms_score_every_chunk_of_the_union_as_each_arm_would(engine, indexed, embedder, ranker):
    text = "a program that runs on a computer"
    vector = np.asarray(embedder.embed([text]), dtype=np.float32)[0]
    complete = fusion.Fusion("convex", 0.5, complete=True)
    with engine.begin() as conn:
        cid = store.collection_id(conn, indexed)
        dense, lexical = (
            dense_ranking(conn, cid, vector, 5),
            lexical_ranking(conn, cid, text, 5, ranker=ranker),
        )
        whole_dense, whole_lexical = completed_arms(conn, cid, text, vector, dense, lexical, "key", ranker)
        fused = ranking(conn, cid, text, vector, "hybrid", 5, ranker=ranker, fused_by=complete)
        every_match = dict(lexical_ranking(conn, cid, text, 100_000, ranker=ranker))
        conn.execute(sa.text("SET LOCAL enable_indexscan = off"))  # exact cosine for every chunk
        exact = dict(dense_ranking(conn, cid, vector, 100_000))

    union = {item for item, _ in dense + lexical}
    assert {i for i, _ in whole_dense} == {i for i, _ in whole_lexical} == union > {i for i, _ in dense}
    assert dict(whole_dense) == pytest.approx({i: exact[i] for i in union}, abs=1e-5)
    assert dict(whole_lexical) == pytest.approx({i: every_match.get(i, 0.0) for i in union}, abs=1e-5)
    assert fused == complete.fuse(whole_dense, whole_lexical)


@pytest.mark.parametrize("prefer_domain", [None, "computing"])
def test_the_dense_arms_on_a_side_connection_rank_as_on_one(
    engine, indexed, embedder, prefer_domain, monkeypatch
):
    text = 'What does "program" mean in "the program crashed"?'
    vector = np.asarray(embedder.embed([text]), dtype=np.float32)[0]
    dense_on = []
    dense = search_module.dense_ranking
    monkeypatch.setattr(
        search_module, "dense_ranking", lambda on, **kw: dense_on.append(on) or dense(on, **kw)
    )
    with engine.begin() as conn, engine.begin() as side:
        cid = store.collection_id(conn, indexed)
        for each in (conn, side):
            store.set_search_params(each, 64, iterative=True)
        one = ranking(conn, cid, text, vector, "hybrid", 10, prefer_domain=prefer_domain)
        beside = ranking(conn, cid, text, vector, "hybrid", 10, prefer_domain=prefer_domain, side=side)

    assert beside == one and len(one) >= 10
    scopes = 2 if prefer_domain else 1
    assert dense_on == [conn] * scopes + [side] * scopes
