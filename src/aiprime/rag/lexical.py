"""BM25 inside PostgreSQL: hashed terms, document weights as a pgvector `sparsevec`, IDF at query time.

A chunk's weight for term t is `tf * (K1 + 1) / (tf + K1 * (1 - B + B * len / avgdl))`, stored in
`rag_chunk_bm25.lex_bm25` (migration 0007); a query is the sparse vector of its terms' IDF,
`ln(1 + (N - df + 0.5) / (df + 0.5))` (Lucene's, never negative), so their inner product is the chunk's BM25
score and `ORDER BY lex_bm25 <#> query` ranks by it. Only chunks sharing a term with the query are scored:
`lex_terms && query_terms` reads the GIN index on the chunks' term ids, so the result is exact BM25.

Terms are hashed into TERM_SPACE ids (no vocabulary table to keep in step; at ~300k distinct terms about
0.03% of them share an id with another). The collection statistics are kept right by `refresh`, which
ingest calls after every run: N and every df are recounted in SQL from `lex_terms` whenever a chunk was added
or removed; the stored weights use the avgdl of `rag_lexicon_stats.weights_avgdl`, and all of them are
recomputed when the collection's avgdl moves more than AVGDL_TOLERANCE from it (or K1, B or the tokenizer
change).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from pgvector import SparseVector
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from aiprime.rag import store

K1 = 1.2  # term-frequency saturation: Robertson's and Lucene's default
B = 0.75  # length normalisation: Robertson's and Lucene's default
TERM_SPACE = store.TERM_SPACE  # sparsevec dimension: hashed term ids (pgvector allows up to 1e9)
AVGDL_TOLERANCE = 0.01  # re-weight every chunk when the collection's avgdl moves more than 1%
COMMON_IDF = math.log(100)  # ln(1 + 99): a term in over ~1% of chunks, whose postings MaxScore may skip
FLOAT4_SLACK = 1e-6  # weights are stored as float4: the pruning bound allows for their rounding
TOKENIZER_VERSION = "1"  # part of the stored params: a new tokenizer re-weights every chunk
WORD = re.compile(r"\w+(?:\.\w+)*")  # words, numbers and dotted identifiers (os.path.join)
CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")  # lruCache -> lru, Cache; HTTPServer -> HTTP, Server
# fmt: off
STOPWORDS = frozenset({  # a small English list, plus the words of every sense question
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he", "her", "his",
    "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "she",
    "so", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
    "was", "we", "were", "what", "when", "which", "who", "will", "with", "you", "your", "does", "do", "did",
    "mean", "means",
})
# fmt: on

lexicon = sa.Table(
    "rag_lexicon",
    store.metadata,
    sa.Column("collection_id", sa.Integer, primary_key=True),
    sa.Column("term_id", sa.Integer, primary_key=True),
    sa.Column("df", sa.Integer),
)
stats_table = sa.Table(
    "rag_lexicon_stats",
    store.metadata,
    sa.Column("collection_id", sa.Integer, primary_key=True),
    sa.Column("chunks", sa.Integer),
    sa.Column("total_len", sa.BigInteger),
    sa.Column("weights_avgdl", sa.Float),
    sa.Column("params", sa.Text),
)


@functools.cache
def stem(word: str) -> str:
    """Porter's stem of a plain word (`classes` -> `class`); identifiers and numbers stay whole."""
    from nltk.stem.porter import PorterStemmer  # pure code, no data: imported on first use

    return _porter(PorterStemmer).stem(word) if word.isalpha() and len(word) > 3 else word


@functools.cache
def _porter(cls: type) -> object:
    return cls()


def identifier_parts(token: str) -> list[str]:
    """A token and its pieces: `os.path.join` -> itself, os, path, join; `lru_cache` -> itself, lru, cache;
    `__init__` -> itself, init; `PyObject_Call` -> itself, pyobject, py, object, call."""
    parts = [token]
    for dotted in token.split(".") if "." in token else [token]:
        snake = [piece for piece in dotted.split("_") if piece]
        parts += [dotted] if dotted != token else []
        parts += snake if (len(snake) > 1 or "_" in dotted) else []
        for piece in snake:
            camel = CAMEL.findall(piece)
            parts += camel if len(camel) > 1 else []
    return parts


def tokens(text: str) -> list[str]:
    """The terms of `text`: lowercased words and identifier parts, plurals stemmed, stopwords dropped."""
    out = []
    for match in WORD.finditer(text):
        for part in identifier_parts(match.group(0).strip(".")):
            word = part.lower()
            if len(word) > 1 and word not in STOPWORDS and any(ch.isalnum() for ch in word):
                out.append(stem(word) if part.islower() or part.istitle() else word)  # getLogger stays whole
    return out


def term_id(term: str) -> int:
    """The hashed id of a term, in 0..TERM_SPACE-1 (stable across processes, unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little") % TERM_SPACE


def term_counts(text: str) -> Counter[int]:
    """Term id -> occurrences in `text`."""
    return Counter(term_id(term) for term in tokens(text))


def bm25_weights(counts: Counter[int], avgdl: float) -> SparseVector:
    """The BM25 document weights of a chunk with these term counts, for a collection of mean length avgdl."""
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / avgdl) if avgdl > 0 else K1
    return SparseVector({t: tf * (K1 + 1) / (tf + norm) for t, tf in counts.items()}, TERM_SPACE)


def idf(n_chunks: int, df: int) -> float:
    """Lucene's BM25 IDF: positive even for a term in most chunks."""
    return math.log(1 + (n_chunks - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Stats:
    """A collection's BM25 statistics as stored."""

    chunks: int
    total_len: int
    weights_avgdl: float
    params: str

    @property
    def avgdl(self) -> float:
        """Mean chunk length in terms."""
        return self.total_len / self.chunks if self.chunks else 0.0


def params_key() -> str:
    """What the stored weights depend on besides avgdl."""
    return f"tokenizer={TOKENIZER_VERSION} k1={K1} b={B}"


def read_stats(conn: Connection, cid: int) -> Stats | None:
    """The stored statistics of collection `cid`, or None before its first refresh."""
    t = stats_table.c
    row = conn.execute(
        sa.select(t.chunks, t.total_len, t.weights_avgdl, t.params).where(t.collection_id == cid)
    ).first()
    return Stats(*row) if row else None


@dataclass
class RefreshReport:
    """What `refresh` did."""

    tokenized: int = 0  # chunks new since the last refresh
    reweighted: int = 0  # chunks whose weights were (re)written
    df_recounted: bool = False


def refresh(conn: Connection, cid: int) -> RefreshReport:
    """Give new chunks their BM25 rows and bring the collection's BM25 statistics up to date.

    Idempotent: with nothing new or removed it reads two aggregates and writes nothing. Removed chunks took
    their rows with them (ON DELETE CASCADE); N, total length and every df are then recounted.
    """
    counts = {row.id: term_counts(row.content) for row in _chunks(conn, cid, pending=True)}
    b = store.chunk_bm25.c
    stored_n, stored_len = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(b.lex_len), 0)).where(b.collection_id == cid)
    ).one()
    n, total = stored_n + len(counts), int(stored_len) + sum(sum(v.values()) for v in counts.values())
    old = read_stats(conn, cid)
    report = RefreshReport(tokenized=len(counts))
    if old is not None and not counts and (old.chunks, old.total_len) == (n, total):
        return report
    avgdl = total / n if n else 0.0
    reweigh_all = old is None or _needs_reweight(old, avgdl)
    weights_avgdl = avgdl if reweigh_all else old.weights_avgdl
    if reweigh_all and stored_n:  # every stored weight is stale: tokenize the other chunks again
        counts |= {row.id: term_counts(row.content) for row in _chunks(conn, cid, pending=False)}
        conn.execute(sa.delete(store.chunk_bm25).where(b.collection_id == cid))
    _copy_weights(conn, cid, counts, weights_avgdl)
    _recount_df(conn, cid)
    _write_stats(conn, cid, Stats(n, total, weights_avgdl, params_key()))
    report.reweighted, report.df_recounted = len(counts), True
    return report


def _chunks(conn: Connection, cid: int, pending: bool) -> sa.CursorResult:
    """(id, content) of the collection's chunks without a BM25 row (`pending`) or with one."""
    c, b = store.chunks.c, store.chunk_bm25.c
    joined = store.chunks.outerjoin(store.chunk_bm25, b.chunk_id == c.id)
    has_row = b.chunk_id.is_(None) if pending else b.chunk_id.is_not(None)
    return conn.execute(sa.select(c.id, c.content).select_from(joined).where(c.collection_id == cid, has_row))


def _needs_reweight(old: Stats, avgdl: float) -> bool:
    drift = abs(avgdl - old.weights_avgdl) / old.weights_avgdl if old.weights_avgdl else 1.0
    return old.params != params_key() or drift > AVGDL_TOLERANCE


def _copy_weights(conn: Connection, cid: int, counts: dict[int, Counter[int]], avgdl: float) -> None:
    """Insert the chunks' BM25 rows with COPY (100k rows in seconds, where row-by-row takes minutes)."""
    columns = "chunk_id, collection_id, lex_len, lex_terms, lex_bm25"
    cur = conn.connection.driver_connection.cursor()
    with cur, cur.copy(f"COPY rag_chunk_bm25 ({columns}) FROM STDIN") as copy:
        for chunk_id, tf in counts.items():
            terms = "{" + ",".join(map(str, sorted(tf))) + "}"
            copy.write_row((chunk_id, cid, sum(tf.values()), terms, bm25_weights(tf, avgdl).to_text()))


def _recount_df(conn: Connection, cid: int) -> None:
    """Every term's document frequency, counted again from the chunks' term ids (exact after any change)."""
    conn.execute(sa.delete(lexicon).where(lexicon.c.collection_id == cid))
    conn.execute(
        sa.text(
            "INSERT INTO rag_lexicon (collection_id, term_id, df) SELECT :cid, t, count(*) "
            "FROM rag_chunk_bm25, unnest(lex_terms) AS t WHERE collection_id = :cid GROUP BY t"
        ),
        {"cid": cid},
    )


def _write_stats(conn: Connection, cid: int, stats: Stats) -> None:
    values = {
        "chunks": stats.chunks,
        "total_len": stats.total_len,
        "weights_avgdl": stats.weights_avgdl,
        "params": stats.params,
    }
    conn.execute(
        insert(stats_table)
        .values(collection_id=cid, **values)
        .on_conflict_do_update(index_elements=["collection_id"], set_=values)
    )


def query_weights(conn: Connection, cid: int, terms: Iterable[str]) -> SparseVector | None:
    """The query's sparse vector: each distinct term's IDF in the collection; None when no term is known."""
    ids = sorted({term_id(term) for term in terms})
    if not ids:
        return None
    t = stats_table.c
    rows = conn.execute(  # one round trip: the query's document frequencies beside the collection's size
        sa.select(lexicon.c.term_id, lexicon.c.df, t.chunks)
        .join(stats_table, t.collection_id == lexicon.c.collection_id)
        .where(lexicon.c.collection_id == cid, lexicon.c.term_id.in_(ids))
    ).all()
    if not rows:
        return None
    return SparseVector({row.term_id: idf(row.chunks, row.df) for row in rows}, TERM_SPACE)


def bm25_ranking(
    conn: Connection, cid: int, terms: list[str], depth: int, clauses: Iterable[sa.ColumnElement[bool]] = ()
) -> list[tuple[int, float]]:
    """Chunks by BM25 score for the query terms, as (id, score), best first; exact (GIN candidates).

    MaxScore (Turtle and Flood, 1995) spares the long posting lists of common terms (IDF below COMMON_IDF):
    the chunks sharing a rare term are ranked first; a chunk sharing only common terms scores below
    `(K1 + 1)` times the sum of their IDF, so the common terms whose sum stays under the last score of that
    list are never read, and the chunks sharing one of the others are ranked and merged in.
    """
    weights = query_weights(conn, cid, terms)
    if weights is None:
        return []
    idfs = dict(zip(weights.indices(), weights.values(), strict=True))
    common = sorted((t for t, w in idfs.items() if w < COMMON_IDF), key=lambda t: (idfs[t], t))
    if not common or len(common) == len(idfs):
        return _bm25_top(conn, cid, weights, set(idfs), depth, clauses)
    ranked = _bm25_top(conn, cid, weights, set(idfs) - set(common), depth, clauses)
    floor = ranked[-1][1] if len(ranked) == depth else 0.0  # the score a chunk must beat to enter the list
    ceiling = 0.0
    while common and (ceiling := ceiling + (K1 + 1) * idfs[common[0]] * (1 + FLOAT4_SLACK)) < floor:
        common.pop(0)  # a chunk sharing only this term and the ones before it cannot reach the list
    if common:
        more = _bm25_top(conn, cid, weights, set(common), depth, clauses)
        ranked = sorted(dict(ranked + more).items(), key=lambda pair: (-pair[1], pair[0]))[:depth]
    return ranked


def _bm25_top(
    conn: Connection,
    cid: int,
    weights: SparseVector,
    candidates_by: set[int],
    depth: int,
    clauses: Iterable[sa.ColumnElement[bool]],
) -> list[tuple[int, float]]:
    """The top `depth` chunks by the full query's BM25 among those sharing a term of `candidates_by`."""
    b, c = store.chunk_bm25.c, store.chunks.c
    distance = b.lex_bm25.max_inner_product(weights)  # -(BM25 score)
    clauses = list(clauses)
    query = sa.select(b.chunk_id.label("id"), distance.label("d"))
    if clauses:  # source and domain live on the chunk
        query = query.join(store.chunks, c.id == b.chunk_id).where(*clauses)
    query = (
        query.where(b.collection_id == cid, b.lex_terms.overlap(sorted(candidates_by)))
        .order_by(distance, b.chunk_id)
        .limit(depth)
    )
    return [(row.id, -float(row.d)) for row in conn.execute(query)]
