"""Search the store: dense (pgvector `<=>` on the HNSW index), lexical (BM25 or PostgreSQL full text), both fused.

Each retriever returns a ranking of chunk ids. Lexical search ranks by BM25 (`aiprime.rag.lexical`: sparse
BM25 weights in pgvector, scored exactly over the chunks sharing a query term) or, as before, by `ts_rank_cd`
over the GIN-indexed `tsvector`. Hybrid search fuses the two by the fusion validation chose for the query's
kind (`aiprime.rag.fusion`, `aiprime.rag.query_kinds`), first scoring each list's missing chunks exactly
when that fusion completes them (`completed_arms`); given a second connection, its dense arm runs beside the
lexical one (`ranked_arms`). `rrf` fuses any rankings by reciprocal rank. Metadata
filters go into the SQL, and pgvector 0.8's iterative index scan (`hnsw.iterative_scan = relaxed_order`) keeps
the HNSW scan going until enough rows pass them; if a very selective filter still leaves fewer than asked,
the query is rerun exactly (index scans off), so a filter never shortens the list while rows match it.
A preferred domain (the gate's choice) adds rankings restricted to that domain to the fusion, which lifts
its documents without hiding the others.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG
from sqlalchemy.engine import Connection, Engine

from aiprime.errors import InvalidInput
from aiprime.rag import fusion, lexical, store
from aiprime.rag.embed import Embedder
from aiprime.rag.ingest import DEFAULT_COLLECTION
from aiprime.rag.query_kinds import query_kind

RRF_K = 60  # the constant of Cormack et al. (2009): rank r contributes 1 / (60 + r)
MAX_QUERY_CHARS = 2000  # a question, not a document; longer input is refused
MAX_K = 200
ANSWER_K = (
    4  # passages an answer stands on: the retriever's and the gateway's default; calibrated and evaluated at
)
RERANK_CANDIDATES = 20  # with a re-ranker, hybrid search's top 20 (or k, if more) are re-ordered
DEPTH = 50  # candidates each retriever hands to the fusion
EF_SEARCH = 64  # recall@10 0.96 at p95 5 ms over 147k chunks (bench/rag_hnsw.py); pgvector's 40 gives 0.93
RANK_NORMALIZATION = 1  # ts_rank_cd: divide by 1 + log(document length), so long pages do not win by length
Mode = Literal["hybrid", "dense", "lexical"]
Match = Literal["key", "any", "all"]
Lexical = Literal["bm25", "ts_rank_cd"]
LEXICAL_RANKERS = ("bm25", "ts_rank_cd")
QUOTED = re.compile(r'["\u201c]([^"\u201c\u201d]+)["\u201d]')  # "straight" or \u201ccurly\u201d quotes
KEY_WORDS = 3  # a quoted span of at most this many words is a key term; a longer one is context
Ranking = list[tuple[int, float]]  # (chunk id, score), best first


@dataclass(frozen=True)
class Filters:
    """Metadata every result must have; None matches anything."""

    source: str | None = None  # wordnet, foldoc, pydocs
    domain: str | None = None  # a gate domain, or computing
    modality: str | None = None  # text, image or audio: what the chunk's vector was made from (0011)

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        """SQL conditions on `rag_chunks`."""
        c = store.chunks.c
        wanted = ((c.source, self.source), (c.domain, self.domain), (c.modality, self.modality))
        return [col == value for col, value in wanted if value]


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its document's metadata."""

    chunk_id: int
    doc_id: str
    chunk_index: int
    title: str
    content: str
    source: str
    domain: str
    score: float  # cosine similarity (dense), BM25 or ts_rank_cd (lexical), or the fused score (hybrid)


def check_query(text: str) -> str:
    """The query stripped; InvalidInput for an empty, oversized or non-UTF-8 one."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput('The query is empty. Pass some words, e.g. `aiprime rag search "a small dog"`.')
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"The query has {len(text):,} characters; the limit is {MAX_QUERY_CHARS:,}. "
            "Shorten it to the question itself."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInput(f"The query is not valid UTF-8 ({e.reason} at position {e.start}).") from e
    return text.strip()


def check_k(k: int) -> int:
    """`k` if it is in 1..MAX_K, else InvalidInput."""
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k={k} is out of range; ask for 1 to {MAX_K} results.")
    return k


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[float] | None = None) -> Ranking:
    """Reciprocal rank fusion: score(d) = sum over rankings of weight / (k + rank of d), ranks from 1.

    Ties keep the order in which the items were first seen, so the result is deterministic.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = defaultdict(float)
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] += weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def dense_ranking(
    conn: Connection,
    cid: int,
    vector: np.ndarray,
    depth: int,
    filters: Filters = Filters(),
    exact_fallback: bool = True,
) -> Ranking:
    """Chunks nearest to `vector` by cosine, as (id, similarity); run after `store.set_search_params`."""
    c = store.chunks.c
    distance = c.embedding.cosine_distance(vector)
    query = (
        sa.select(c.id, distance.label("d"))
        .where(c.collection_id == cid, *filters.clauses())
        .order_by(distance)
        .limit(depth)
    )
    rows = conn.execute(query).all()
    if len(rows) < depth and exact_fallback:
        conn.execute(sa.text("SET LOCAL enable_indexscan = off"))  # exact over the rows that pass the filter
        rows = conn.execute(query).all()
        conn.execute(sa.text("SET LOCAL enable_indexscan = on"))
    rows.sort(key=lambda row: row.d)  # relaxed_order may return near-ties out of order
    return [(row.id, 1.0 - row.d) for row in rows]


def key_terms(text: str) -> list[str]:
    """The short quoted spans of `text` (at most KEY_WORDS words): the terms a question is about."""
    spans = (" ".join(re.findall(r"[^\W_]+", span)) for span in QUOTED.findall(text))
    return list(dict.fromkeys(span for span in spans if 0 < len(span.split()) <= KEY_WORDS))


def tsquery_text(text: str, match: Match) -> str:
    """Text for `websearch_to_tsquery` by `match`.

    `all`: as typed (websearch syntax). `any`: every word, joined by `or`. `key`: the quoted key terms
    (`What does "courting" mean in "..."?` searches `"courting"`), each a phrase, joined by `or`; a text that
    quotes no short term falls back to `any`. On 500 WordNet sense questions (`bench/rag_quality.py`) `key`
    lifts lexical recall@10 from 0.08 to 0.58 and MRR from 0.014 to 0.33: `any` ranks every chunk sharing a
    common word of the context sentence, and hybrid fusion then scored below dense alone.
    """
    if match == "all":
        return text
    if match == "key" and (terms := key_terms(text)):
        return " or ".join(f'"{term}"' for term in terms)
    words = [w for w in re.findall(r"[^\W_]+", text) if w.lower() != "or"]  # `___` and punctuation drop out
    return " or ".join(words)


def query_terms(text: str, match: Match) -> list[str]:
    """BM25's query terms: the quoted key terms' with `key` (when the text quotes any), else every word's."""
    terms = key_terms(text) if match == "key" else []
    return lexical.tokens(" ".join(terms) if terms else text)


def lexical_ranking(
    conn: Connection,
    cid: int,
    text: str,
    depth: int,
    filters: Filters = Filters(),
    match: Match = "key",
    ranker: Lexical = "bm25",
) -> Ranking:
    """Chunks for `text` by BM25 (`ranker="bm25"`) or `ts_rank_cd`, as (id, score), best first."""
    if ranker == "bm25":
        return lexical.bm25_ranking(conn, cid, query_terms(text, match), depth, filters.clauses())
    return ts_rank_ranking(conn, cid, text, depth, filters, match)


def lexical_score(conn: Connection, cid: int, text: str, match: Match, ranker: Lexical) -> sa.ColumnElement:
    """A chunk's lexical score for `text` as SQL (0 where it does not match); BM25's reads `chunk_bm25`."""
    if ranker == "ts_rank_cd":
        return sa.func.ts_rank_cd(store.chunks.c.tsv, _tsquery(text, match), RANK_NORMALIZATION)
    weights = lexical.query_weights(conn, cid, query_terms(text, match))
    if weights is None:
        return sa.literal(0.0)
    return sa.func.coalesce(-store.chunk_bm25.c.lex_bm25.max_inner_product(weights), 0.0)


def _tsquery(text: str, match: Match) -> sa.ColumnElement:
    return sa.func.websearch_to_tsquery(sa.cast("english", REGCONFIG), tsquery_text(text, match))


def ts_rank_ranking(
    conn: Connection, cid: int, text: str, depth: int, filters: Filters, match: Match
) -> Ranking:
    """Chunks matching `text` in full text, by `ts_rank_cd` on the GIN-indexed `tsv`, as (id, rank)."""
    c = store.chunks.c
    tsquery = _tsquery(text, match)
    rank = sa.func.ts_rank_cd(c.tsv, tsquery, RANK_NORMALIZATION)
    query = (
        sa.select(c.id, rank.label("r"))
        .where(c.collection_id == cid, c.tsv.bool_op("@@")(tsquery), *filters.clauses())
        .order_by(rank.desc(), c.id)
        .limit(depth)
    )
    return [(row.id, float(row.r)) for row in conn.execute(query)]


def ranking(
    conn: Connection,
    cid: int,
    text: str,
    vector: np.ndarray | None,
    mode: Mode,
    depth: int,
    filters: Filters = Filters(),
    prefer_domain: str | None = None,
    match: Match = "key",
    ranker: Lexical = "bm25",
    fused_by: fusion.Fusion | None = None,
    side: Connection | None = None,
) -> Ranking:
    """The ranking of one query by `mode`.

    Hybrid fuses dense and lexical by `fused_by` (default: the fusion chosen for the query's kind). With a
    preferred domain, the domain-restricted dense and lexical rankings join the unrestricted ones in plain
    RRF, which lifts the domain's documents and keeps the others' best among them. Given `side`, a second
    connection with the same search parameters, the dense arms run on it beside the lexical ones.
    """
    scopes = [filters]
    if prefer_domain and prefer_domain != filters.domain:
        scopes.append(replace(filters, domain=prefer_domain))
    dense = functools.partial(dense_ranking, cid=cid, vector=vector, depth=depth)
    lexical_ = functools.partial(lexical_ranking, conn, cid, text, depth, match=match, ranker=ranker)
    arms = ranked_arms(
        conn, side, scopes, dense if mode != "lexical" else None, lexical_ if mode != "dense" else None
    )
    if len(arms) == 1:
        return arms[0]
    if len(scopes) == 1:
        by = fused_by or fusion.for_kind(query_kind(text))
        if by.complete:
            arms = list(completed_arms(conn, cid, text, vector, *arms, match, ranker))
        return by.fuse(*arms)
    return rrf([[item for item, _ in ranked] for ranked in arms])


def ranked_arms(
    conn: Connection,
    side: Connection | None,
    scopes: Sequence[Filters],
    dense: Callable[..., Ranking] | None,
    lexical_: Callable[[Filters], Ranking] | None,
) -> list[Ranking]:
    """Each scope's dense and lexical rankings, in that order; with both and `side`, the dense ones run there."""

    def dense_arms(on: Connection) -> list[Ranking]:
        return [dense(on, filters=scope) for scope in scopes] if dense else []

    def lexical_arms() -> list[Ranking]:
        return [lexical_(scope) for scope in scopes] if lexical_ else []

    if side is None or not (dense and lexical_):
        dense_ranked, lexical_ranked = dense_arms(conn), lexical_arms()
    else:  # both PostgreSQL backends work at once: hybrid waits for the slower arm, not for their sum
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiprime-dense") as pool:
            future = pool.submit(contextvars.copy_context().run, dense_arms, side)  # spans nest as on `conn`
            lexical_ranked = lexical_arms()
            dense_ranked = future.result()
    pairs = itertools.zip_longest(dense_ranked, lexical_ranked)
    return [arm for pair in pairs for arm in pair if arm is not None]


def completed_arms(
    conn: Connection,
    cid: int,
    text: str,
    vector: np.ndarray,
    dense: Ranking,
    lexical_ranked: Ranking,
    match: Match = "key",
    ranker: Lexical = "bm25",
) -> tuple[Ranking, Ranking]:
    """Both rankings over the union of their chunks: a chunk missing from one is scored there exactly.

    Fused as if this arm had never matched it, a chunk the other arm ranked 51st can push out one that an arm
    ranks inside its top 10 (`aiprime.rag.fusion`). One statement scores the missing chunks (at most
    `2 * depth`, by primary key) on both arms (README "Retrieval" has its cost).
    """
    both = {item for item, _ in dense} & {item for item, _ in lexical_ranked}
    missing = {item for item, _ in [*dense, *lexical_ranked]} - both
    if not missing:
        return dense, lexical_ranked
    scores = exact_scores(conn, cid, text, vector, missing, match, ranker)
    return (
        fusion.completed(dense, {item: cosine for item, (cosine, _) in scores.items()}),
        fusion.completed(lexical_ranked, {item: score for item, (_, score) in scores.items()}),
    )


def exact_scores(
    conn: Connection,
    cid: int,
    text: str,
    vector: np.ndarray,
    ids: Iterable[int],
    match: Match,
    ranker: Lexical,
) -> dict[int, tuple[float, float]]:
    """Each chunk of `ids` scored by both arms, as id -> (cosine similarity, lexical score)."""
    c, b = store.chunks.c, store.chunk_bm25.c
    cosine = 1.0 - c.embedding.cosine_distance(vector)
    query = sa.select(
        c.id, cosine.label("cosine"), lexical_score(conn, cid, text, match, ranker).label("lex")
    )
    if ranker == "bm25":
        query = query.outerjoin(store.chunk_bm25, b.chunk_id == c.id)
    ids_bound = sa.literal(sorted(set(ids)), ARRAY(sa.BigInteger))  # one array: the same SQL for any count
    rows = conn.execute(query.where(c.id == sa.any_(ids_bound)))
    return {row.id: (float(row.cosine), float(row.lex)) for row in rows}


def hydrate(conn: Connection, scored: Ranking) -> list[Hit]:
    """The chunks of `scored` with their documents' ids and titles, in the same order."""
    c, d = store.chunks.c, store.documents.c
    ids = [item for item, _ in scored]
    rows = conn.execute(
        sa.select(c.id, d.doc_id, c.chunk_index, d.title, c.content, c.source, c.domain)
        .join(store.documents, d.id == c.document_id)
        .where(c.id.in_(ids))
    ).all()
    by_id = {row.id: row for row in rows}
    return [Hit(item, *by_id[item][1:], score=score) for item, score in scored if item in by_id]


def search(
    engine: Engine,
    query: str,
    embedder: Embedder,
    *,
    k: int = 10,
    mode: Mode = "hybrid",
    collection: str = DEFAULT_COLLECTION,
    filters: Filters = Filters(),
    prefer_domain: str | None = None,
    ef_search: int = EF_SEARCH,
    depth: int = DEPTH,
    match: Match = "key",
    ranker: Lexical = "bm25",
) -> list[Hit]:
    """The top `k` chunks for `query`.

    Hybrid search holds two of the engine's connections while it runs: the dense arm runs on the second,
    beside the lexical one (p95 over the 147k-chunk store in the README's "Retrieval").

    Args:
        engine: The `aiprime` database.
        query: The user's text (1 to MAX_QUERY_CHARS characters).
        embedder: The model the collection was embedded with (its `dim` must match the table).
        k: Number of results, 1 to MAX_K.
        mode: `hybrid` (dense and lexical fused as validation chose for the query's kind), `dense` or
            `lexical`.
        collection: Collection name.
        filters: Source and domain every result must have.
        prefer_domain: A domain whose documents are boosted (the gate's choice).
        ef_search: HNSW candidate list size (`SET LOCAL hnsw.ef_search`).
        depth: Candidates per retriever before fusion (at least k).
        match: Lexical matching: `key` (the quoted short terms, else any word), `any` word (OR) or `all`
            (websearch syntax as typed: quotes, -word, or; `ts_rank_cd` only, BM25 reads it as `any`).
        ranker: The lexical ranker: `bm25` or `ts_rank_cd` (PostgreSQL full text).

    Raises:
        InvalidInput: For an empty, huge or non-UTF-8 query, k out of range, or an unknown mode or match.
        ConfigError: If the embedder's dimension differs from the table's, or its model from the collection's.
        NotFound: If the collection does not exist.
    """
    text, k = check_query(query), check_k(k)
    if mode not in ("hybrid", "dense", "lexical"):
        raise InvalidInput(f"mode={mode!r}; use hybrid, dense or lexical.")
    if match not in ("key", "any", "all"):
        raise InvalidInput(f"match={match!r}; use key (quoted terms), any (every word) or all (as typed).")
    if ranker not in LEXICAL_RANKERS:
        raise InvalidInput(f"ranker={ranker!r}; use bm25 or ts_rank_cd.")
    with engine.begin() as conn, engine.begin() if mode == "hybrid" else contextlib.nullcontext() as side:
        cid = store.collection_id(conn, collection)
        vector = None
        if mode != "lexical":
            store.check_dim(conn, embedder.dim, f"The embedder {embedder.name}")
            store.check_model(conn, cid, embedder.name)
            vector = np.asarray(embedder.embed([text]), dtype=np.float32)[0]  # (dim,)
            store.check_dim(conn, vector.shape[0], f"The query vector of {embedder.name}")
        for each in (conn, side) if side else (conn,):
            store.set_search_params(each, ef_search, iterative=True)
        scored = ranking(
            conn, cid, text, vector, mode, max(depth, k), filters, prefer_domain, match, ranker, side=side
        )
        return hydrate(conn, scored[:k])
