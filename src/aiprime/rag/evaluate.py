"""Retrieval quality on the held-out queries, and the HNSW index against exact search.

Quality: each query asks what a word means in one of its WordNet example sentences
(`aiprime.rag.questions`); the one relevant document is `wn:<synset_id>`, the other senses of the word are
the hard negatives. A seeded sample of the test split is ranked by dense, lexical (BM25 of the quoted word,
as `search` does; `ts_rank_cd` of it; BM25 of every word, for comparison) and hybrid retrieval (and
hybrid with the query's true domain preferred: the most a perfect gate could add), scored by recall@1,
recall@10, MRR@10 and nDCG@10 over distinct documents. Given a re-ranker (`aiprime.rag.rerank`), hybrid's top
`RERANK_DEPTH` chunks are also re-ordered by it (`hybrid+rerank`), with the re-ranking latency per query.

HNSW: recall@10 of the index scan against exact cosine search (brute force in numpy over the stored vectors),
with p50/p95 latency of the index query at several `ef_search` values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aiprime.errors import DataSourceMissing, InvalidInput
from aiprime.rag import questions, store
from aiprime.rag.embed import Embedder
from aiprime.rag.fusion import Ranking, for_kind
from aiprime.rag.ingest import DEFAULT_COLLECTION
from aiprime.rag.query_kinds import query_kind
from aiprime.rag.search import (
    DEPTH,
    Filters,
    completed_arms,
    dense_ranking,
    hydrate,
    lexical_ranking,
    ranking,
)

if TYPE_CHECKING:
    from aiprime.rag.rerank import Reranker

EF_VALUES = (20, 40, 64, 100)  # 64: what search uses (search.EF_SEARCH)
RERANK_METHOD = "hybrid+rerank"  # scored only when a re-ranker is given
METHODS = (
    "dense",
    "lexical",  # BM25
    "lexical_ts_rank_cd",
    "lexical_every_word",
    "hybrid",
    "hybrid+true_domain",
    RERANK_METHOD,
)
RERANK_DEPTH = 30  # hybrid candidates the re-ranker re-orders
QUALITY_METRICS = ("recall_at_1", "recall_at_10", "mrr", "ndcg_at_10")


def evaluate(
    engine: Engine,
    embedder: Embedder,
    splits_dir: Path,
    *,
    n_queries: int = 1000,
    seed: int = 0,
    collection: str = DEFAULT_COLLECTION,
    ef_values: Sequence[int] = EF_VALUES,
    reranker: Reranker | None = None,
) -> dict[str, float]:
    """Quality and HNSW figures on a seeded sample of test queries, as one flat dict for MLflow.

    Keys: `queries`, `seed`, `quality/queries_scored`, `{method}/{metric}` for each of METHODS and
    QUALITY_METRICS (`hybrid+rerank` and `rerank/*` only with a `reranker`), `hnsw/ef{N}/recall_at_10|p50_ms|
    p95_ms`, `hnsw/vectors`, and `hnsw/uses_index` (1.0 when the planner answered with the HNSW index).
    """
    queries = sample_queries(splits_dir, n_queries, seed)
    vectors = np.asarray(embedder.embed(list(queries.question)), dtype=np.float32)  # (Q, dim)
    result = {"queries": float(len(queries)), "seed": float(seed)}
    result |= evaluate_quality(
        engine, queries, vectors, collection=collection, reranker=reranker, model=embedder.name
    )
    result |= evaluate_hnsw(engine, vectors, collection=collection, ef_values=ef_values)
    result["hnsw/uses_index"] = float(uses_hnsw(engine, collection))
    return result


def rank_metrics(ranked: Sequence[str], relevant: set[str], k: int = 10) -> dict[str, float]:
    """recall@1, recall@k, reciprocal rank (within k) and nDCG@k with binary gains, for one query.

    The same numbers as torchmetrics.retrieval's (tests/rag/test_evaluate.py checks them against it).
    """
    top = list(ranked)[:k]
    hits = [i for i, doc in enumerate(top, start=1) if doc in relevant]
    dcg = sum(1.0 / math.log2(rank + 1) for rank in hits)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return {
        "recall_at_1": len(set(top[:1]) & relevant) / len(relevant),
        f"recall_at_{k}": len(set(top) & relevant) / len(relevant),
        "mrr": 1.0 / hits[0] if hits else 0.0,
        f"ndcg_at_{k}": dcg / ideal if ideal else 0.0,
    }


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries."""
    if not per_query:
        raise InvalidInput(
            "No queries to score: none of the sampled queries' documents is in the collection. "
            "Ingest the documents first: `aiprime rag ingest`."
        )
    return {name: float(np.mean([m[name] for m in per_query])) for name in per_query[0]}


def distinct_docs(chunk_ids: Sequence[int], doc_of: dict[int, str]) -> list[str]:
    """The documents of ranked chunks, first occurrence kept (a long section can hold several top chunks)."""
    return list(dict.fromkeys(doc_of[c] for c in chunk_ids if c in doc_of))


def sample_queries(splits_dir: Path, n: int = 1000, seed: int = 0, split: str = "test") -> pd.DataFrame:
    """A seeded sample of `split` queries with their relevant doc_id, their synset's domain and `question`.

    `text` is the masked example sentence of the data; `question` is what retrieval is asked
    (`questions.question_for` the unmasked example, from `processed/synsets.parquet` beside `splits_dir`).
    """
    synsets_path = splits_dir.parent / "processed" / "synsets.parquet"
    paths = [splits_dir / "queries.parquet", splits_dir / "classification.parquet", synsets_path]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise DataSourceMissing(
            f"{', '.join(missing)} not found. Build the data first: `aiprime data ingest`."
        )
    queries = pd.read_parquet(paths[0])
    queries = queries[queries.split == split]
    if queries.empty:
        raise InvalidInput(f"No queries in split {split!r} of {paths[0]}; use train, val or test.")
    queries = queries.sample(min(n, len(queries)), random_state=seed).reset_index(drop=True)
    domains = pd.read_parquet(paths[1], columns=["synset_id", "domain"])
    synsets = pd.read_parquet(paths[2], columns=["synset_id", "lemmas", "examples"]).set_index("synset_id")
    queries = queries.merge(domains, on="synset_id", how="left")
    return queries.assign(
        relevant="wn:" + queries.synset_id, question=questions.questions_of(queries, synsets)
    )


def doc_ids_by_chunk(conn: Connection, cid: int) -> dict[int, str]:
    """chunk id -> doc_id for a whole collection."""
    c, d = store.chunks.c, store.documents.c
    rows = conn.execute(
        sa.select(c.id, d.doc_id).join(store.documents, d.id == c.document_id).where(c.collection_id == cid)
    )
    return dict(rows.all())


def evaluate_quality(
    engine: Engine,
    queries: pd.DataFrame,
    vectors: np.ndarray,
    *,
    collection: str = DEFAULT_COLLECTION,
    k: int = 10,
    depth: int = DEPTH,
    ef_search: int = 100,
    reranker: Reranker | None = None,
    rerank_depth: int = RERANK_DEPTH,
    model: str | None = None,
) -> dict[str, float]:
    """Mean recall@1, recall@k, MRR and nDCG@k per method, as `{method}/{metric}` keys (MLflow-safe).

    Args:
        engine: The `aiprime` database.
        queries: Rows with `question`, `relevant` (a doc_id) and `domain`, as from `sample_queries`.
        vectors: The queries' embeddings, (Q, dim), from the collection's embedder.
        collection: Collection name.
        k: Cut-off of recall and nDCG.
        depth: Candidates per retriever before fusion.
        ef_search: HNSW candidate list size.
        reranker: Re-orders hybrid's top `rerank_depth` chunks as method `hybrid+rerank`; None leaves that
            method (and the `rerank/p50_ms|p95_ms|candidates` latency keys) out.
        rerank_depth: Hybrid candidates the re-ranker scores, in one batch per query.
        model: The name of the embedder that made `vectors`; given, it must be the collection's (ConfigError).

    Queries whose relevant document is not in the collection (a partial ingest) are left out; the key
    `quality/queries_scored` says how many were scored.
    """
    methods = [m for m in METHODS if reranker is not None or m != RERANK_METHOD]
    per_method: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    latencies: list[float] = []
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        store.check_dim(conn, vectors.shape[1], "The query vectors")
        if model is not None:
            store.check_model(conn, cid, model)
        doc_of = doc_ids_by_chunk(conn, cid)
    stored = queries.relevant.isin(set(doc_of.values())).to_numpy()
    queries, vectors = queries[stored], vectors[stored]
    for query, vector in zip(queries.itertuples(index=False), vectors, strict=True):
        with engine.begin() as conn:
            store.set_search_params(conn, ef_search, iterative=True)
            ranked = _rankings(conn, cid, query.question, vector, depth, query.domain)
            lists = {method: [item for item, _ in found] for method, found in ranked.items()}
            if reranker is not None:
                lists[RERANK_METHOD], ms = reranked(
                    conn, query.question, ranked["hybrid"], reranker, rerank_depth
                )
                latencies.append(ms)
        for method, chunk_ids in lists.items():
            per_method[method].append(rank_metrics(distinct_docs(chunk_ids, doc_of), {query.relevant}, k))
    scores = {
        f"{method}/{name}": value
        for method, rows in per_method.items()
        for name, value in mean_metrics(rows).items()
    }
    return {
        "quality/queries_scored": float(len(queries)),
        **scores,
        **latency_figures(latencies, rerank_depth),
    }


def reranked(
    conn: Connection, question: str, hybrid: Ranking, reranker: Reranker, depth: int
) -> tuple[list[int], float]:
    """The top `depth` chunk ids of `hybrid` (with its fused scores, which a blend weighs) re-ordered by
    `reranker`, and the milliseconds re-ranking took."""
    from aiprime.rag.rerank import rerank  # torch and transformers: imported only when a re-ranker is used

    hits = hydrate(conn, list(hybrid[:depth]))
    if not hits:
        return [], 0.0
    start = time.perf_counter()
    ranked = rerank(question, hits, reranker, top_n=len(hits))
    return [hit.chunk_id for hit in ranked], (time.perf_counter() - start) * 1000.0


def latency_figures(latencies: Sequence[float], depth: int) -> dict[str, float]:
    """p50/p95 milliseconds of re-ranking per query and the candidates re-ranked; empty without re-ranking."""
    if not latencies:
        return {}
    return {
        "rerank/p50_ms": float(np.percentile(latencies, 50)),
        "rerank/p95_ms": float(np.percentile(latencies, 95)),
        "rerank/candidates": float(depth),
    }


def _rankings(
    conn: Connection, cid: int, text: str, vector: np.ndarray, depth: int, domain: str
) -> dict[str, Ranking]:
    """Chunks ranked by each method, with their scores; hybrid fuses the dense and BM25 lists, as `search` would."""
    dense = dense_ranking(conn, cid, vector, depth)
    bm25 = lexical_ranking(conn, cid, text, depth)  # the quoted word (match `key`)
    by = for_kind(query_kind(text))
    lists = {
        "dense": dense,
        "lexical": bm25,
        "lexical_ts_rank_cd": lexical_ranking(conn, cid, text, depth, ranker="ts_rank_cd"),
        "lexical_every_word": lexical_ranking(conn, cid, text, depth, match="any"),
        "hybrid": by.fuse(
            *(completed_arms(conn, cid, text, vector, dense, bm25) if by.complete else (dense, bm25))
        ),
        "hybrid+true_domain": ranking(
            conn, cid, text, vector, "hybrid", depth, Filters(), prefer_domain=domain
        ),
    }
    return lists


def load_vectors(engine: Engine, cid: int) -> tuple[np.ndarray, np.ndarray]:
    """All chunk ids (N,) and embeddings (N, dim) of a collection, read in pgvector's binary format."""
    from pgvector.psycopg import register_vector

    raw = engine.raw_connection()
    try:
        register_vector(raw.driver_connection)
        with raw.driver_connection.cursor(binary=True) as cur:
            cur.execute("SELECT id, embedding FROM rag_chunks WHERE collection_id = %s ORDER BY id", (cid,))
            rows = cur.fetchall()
    finally:
        raw.close()
    if not rows:
        raise InvalidInput("The collection holds no chunks; ingest it first: `aiprime rag ingest`.")
    return np.array([r[0] for r in rows]), np.stack([r[1].to_numpy() for r in rows]).astype(np.float32)


def exact_top_k(
    queries: np.ndarray, ids: np.ndarray, matrix: np.ndarray, k: int, batch: int = 128
) -> np.ndarray:
    """The ids of the k stored vectors of highest cosine to each query (both unit-norm), (Q, k)."""
    out = np.empty((len(queries), k), dtype=ids.dtype)
    for start in range(0, len(queries), batch):
        sims = queries[start : start + batch] @ matrix.T  # (B, N)
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
        out[start : start + batch] = ids[np.take_along_axis(top, order, axis=1)]
    return out


def timed(run: Callable[[], list[tuple[int, float]]]) -> tuple[list[int], float]:
    """The ids that `run` returns and the milliseconds it took."""
    start = time.perf_counter()
    result = run()
    return [item for item, _ in result], (time.perf_counter() - start) * 1000.0


def evaluate_hnsw(
    engine: Engine,
    query_vectors: np.ndarray,
    *,
    collection: str = DEFAULT_COLLECTION,
    ef_values: Sequence[int] = EF_VALUES,
    k: int = 10,
) -> dict[str, float]:
    """HNSW recall@k against exact search, and p50/p95 latency (ms) of the index query, per ef_search."""
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
    ids, matrix = load_vectors(engine, cid)
    exact = exact_top_k(query_vectors, ids, matrix, k)
    result: dict[str, float] = {"hnsw/vectors": float(len(ids)), "hnsw/queries": float(len(query_vectors))}
    for ef in ef_values:
        recalls, latencies = [], []
        for vector, truth in zip(query_vectors, exact, strict=True):
            with engine.begin() as conn:
                store.set_search_params(conn, ef, iterative=True)  # as `search` runs it
                found, ms = timed(lambda: dense_ranking(conn, cid, vector, k, exact_fallback=False))  # noqa: B023
            recalls.append(len(set(found) & set(truth.tolist())) / k)
            latencies.append(ms)
        result |= {
            f"hnsw/ef{ef}/recall_at_{k}": float(np.mean(recalls)),
            f"hnsw/ef{ef}/p50_ms": float(np.percentile(latencies, 50)),
            f"hnsw/ef{ef}/p95_ms": float(np.percentile(latencies, 95)),
        }
    return result


def uses_hnsw(engine: Engine, collection: str = DEFAULT_COLLECTION) -> bool:
    """Whether the planner answers a dense query with the HNSW index (else latencies measure a seq scan)."""
    with engine.begin() as conn:
        cid = store.collection_id(conn, collection)
        probe = np.zeros(store.column_dim(conn), dtype=np.float32)
        probe[0] = 1.0
        c = store.chunks.c
        query = (
            sa.select(c.id)
            .where(c.collection_id == cid)
            .order_by(c.embedding.cosine_distance(probe))
            .limit(10)
        )
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {compiled}")).scalars())
    return store.HNSW_INDEX in plan
