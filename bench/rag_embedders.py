"""The int8 ONNX embedder against fp32 all-MiniLM-L6-v2: speed, agreement and retrieval quality, in one run.

Speed, per text, both models warm and uncached (their encoders are called directly, not the disk cache); each
model runs each path `--repeats` times, the models taking turns a whole run each, and its best run counts:
- ingest path: `--chunks` chunk texts sampled from the collection (seeded `setseed` + `ORDER BY random()`),
  embedded in batches of `--batch-size`;
- query path: `--queries` test-split questions (`evaluate.sample_queries`), embedded one call each (mean, p50
  and p95 of the calls).
Agreement: the cosine of int8 to fp32 vectors of the same chunk texts (min / mean), and of the stored vectors to
fresh fp32 ones (which shows the stored vectors stand for fp32 below).

Retrieval quality by exact search in numpy (no HNSW index): a sub-corpus of the chunks of every question's
relevant document, of every WordNet sense sharing a word with it (the hard confusers), and `--distractors`
random chunks. fp32 documents are the collection's stored vectors (ingested with fp32 MiniLM); int8 documents
are embedded now. For (fp32 docs, fp32 queries), (fp32 docs, int8 queries) and (int8 docs, int8 queries) it
prints recall@1, recall@10, MRR@10 and nDCG@10 over distinct documents, and int8/fp32 ratios.

Run: `python bench/rag_embedders.py [--chunks 2000] [--queries 200] [--distractors 20000] [--seed 0]
[--batch-size 64] [--repeats 2]` (from the repository root, after `aiprime rag ingest` with fp32 MiniLM).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from aiprime.errors import ConfigError
from aiprime.moe import embeddings
from aiprime.rag import onnx_embed, store
from aiprime.rag.evaluate import QUALITY_METRICS, distinct_docs, mean_metrics, rank_metrics, sample_queries
from aiprime.rag.ingest import DEFAULT_COLLECTION
from aiprime.services import stack
from aiprime.settings import Settings

SPLITS = Path("data/splits")
SYNSETS = Path("data/processed/synsets.parquet")
DEPTH = 50  # chunks ranked per query before collapsing to distinct documents
Encode = Callable[[Sequence[str], int], np.ndarray]  # (texts, batch_size) -> (N, 384), unit-norm
ENCODERS: dict[str, Encode] = {"fp32": embeddings.encode_texts, "int8": onnx_embed.encode}


@dataclass(frozen=True)
class Chunks:
    """Chunks read from the store: ids (N,), their documents, texts and stored fp32 vectors (N, 384)."""

    ids: np.ndarray
    doc_ids: list[str]
    texts: list[str]
    stored: np.ndarray


def read_chunks(engine: sa.Engine, where: sa.ColumnElement[bool], limit: int | None, seed: int) -> Chunks:
    """Chunks matching `where`, in a random order fixed by `seed` (PostgreSQL's `setseed`), at most `limit`."""
    c, d = store.chunks.c, store.documents.c
    query = (
        sa.select(c.id, d.doc_id, c.content, c.embedding)
        .join(store.documents, d.id == c.document_id)
        .where(where)
        .order_by(sa.func.random())
        .limit(limit)
    )
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.setseed(seed % 1_000_000 / 1_000_000)))  # setseed takes -1..1
        rows = conn.execute(query).all()
    stored = np.stack([np.asarray(r.embedding, dtype=np.float32) for r in rows])  # (N, 384)
    return Chunks(np.array([r.id for r in rows]), [r.doc_id for r in rows], [r.content for r in rows], stored)


def collection_of_fp32(engine: sa.Engine, collection: str) -> int:
    """The collection's id; ConfigError unless it was ingested with fp32 MiniLM (its vectors are the baseline)."""
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        try:
            store.check_model(conn, cid, embeddings.model_id())
        except ConfigError as e:
            raise ConfigError(f"{e} This bench needs the fp32 collection: unset AIPRIME_RAG_EMBEDDER.") from e
    return cid


def sense_docs(queries: pd.DataFrame) -> list[str]:
    """The relevant documents of `queries` and every WordNet sense sharing a word with them (`wn:<synset>`)."""
    lemmas = pd.read_parquet(SYNSETS, columns=["synset_id", "lemmas"]).explode("lemmas")
    asked = set(lemmas[lemmas.synset_id.isin(queries.synset_id)].lemmas)
    senses = set(lemmas[lemmas.lemmas.isin(asked)].synset_id)
    return sorted({*queries.relevant, *("wn:" + s for s in senses)})


def subcorpus(engine: sa.Engine, cid: int, docs: list[str], distractors: int, seed: int) -> Chunks:
    """Every chunk of `docs` plus `distractors` random chunks of the collection, without repeats."""
    c, d = store.chunks.c, store.documents.c
    wanted = read_chunks(engine, sa.and_(c.collection_id == cid, d.doc_id.in_(docs)), None, seed)
    noise = read_chunks(engine, sa.and_(c.collection_id == cid, d.doc_id.not_in(docs)), distractors, seed)
    return Chunks(
        np.concatenate([wanted.ids, noise.ids]),
        wanted.doc_ids + noise.doc_ids,
        wanted.texts + noise.texts,
        np.concatenate([wanted.stored, noise.stored]),  # (N, 384)
    )


def ingest_path(texts: list[str], batch_size: int, repeats: int) -> tuple[dict, dict]:
    """Each model's vectors (N, 384) of `texts` in batches, and its best milliseconds per text over `repeats`
    runs (the models take turns, so both see the same machine state)."""
    vectors, best = {}, dict.fromkeys(ENCODERS, np.inf)
    for _ in range(repeats):
        for name, encode in ENCODERS.items():
            start = time.perf_counter()
            vectors[name] = encode(texts, batch_size)  # (N, 384)
            best[name] = min(best[name], (time.perf_counter() - start) * 1000 / len(texts))
    return vectors, best


def query_path(questions: list[str], repeats: int) -> tuple[dict, dict]:
    """Each model's vectors (Q, 384) of `questions` embedded one call each, and each call's milliseconds (Q,)
    from its run of lowest mean over `repeats` runs (the models take turns, a whole run each)."""
    vectors: dict[str, np.ndarray] = {}
    latencies = {name: np.full(len(questions), np.inf) for name in ENCODERS}
    for _ in range(repeats):
        for name, encode in ENCODERS.items():
            run, ms = [], []
            for question in questions:
                start = time.perf_counter()
                run.append(encode([question], 1)[0])  # (384,)
                ms.append((time.perf_counter() - start) * 1000)
            if np.mean(ms) < latencies[name].mean():
                vectors[name], latencies[name] = np.stack(run), np.array(ms)
    return vectors, latencies


def speed_table(n_chunks: int, batch_size: int, repeats: int, batch_ms: dict, query_ms: dict) -> Table:
    """Milliseconds per text of both models on both paths, with the int8/fp32 ratio."""
    table = Table(title="Embedding speed, ms per text (uncached, warm models)")
    for column in ("path", "fp32", "int8", "int8 / fp32"):
        table.add_column(column, justify="left" if column == "path" else "right")
    rows = {f"ingest: {n_chunks:,} chunks in batches of {batch_size} (best of {repeats})": batch_ms}
    for stat, reduce in (("mean", np.mean), ("p50", np.median), ("p95", lambda ms: np.percentile(ms, 95))):
        rows[f"query: {len(query_ms['fp32'])} questions one at a time (best of {repeats}), {stat}"] = {
            name: float(reduce(ms)) for name, ms in query_ms.items()
        }
    for path, ms in rows.items():
        table.add_row(path, f"{ms['fp32']:.2f}", f"{ms['int8']:.2f}", f"{ms['int8'] / ms['fp32']:.3f}")
    return table


def exact_quality(docs: np.ndarray, chunks: Chunks, queries: np.ndarray, relevant: Sequence[str]) -> dict:
    """Mean rank metrics of exact cosine search of `queries` (Q, 384) over `docs` (N, 384), by distinct docs."""
    doc_of = dict(zip(chunks.ids.tolist(), chunks.doc_ids, strict=True))
    scores = queries @ docs.T  # (Q, N)
    top = np.argpartition(-scores, DEPTH, axis=1)[:, :DEPTH]  # (Q, DEPTH), unordered
    per_query = []
    for row, (candidates, wanted) in enumerate(zip(top, relevant, strict=True)):
        ordered = candidates[np.argsort(-scores[row, candidates])]  # (DEPTH,) best first
        per_query.append(rank_metrics(distinct_docs(chunks.ids[ordered].tolist(), doc_of), {wanted}, 10))
    return mean_metrics(per_query)


def cosines(a: np.ndarray, b: np.ndarray) -> str:
    """`min x, mean y` of the row-wise cosine of two unit-norm matrices (N, D)."""
    rows = (a * b).sum(axis=1)  # (N,)
    return f"min {rows.min():.4f}, mean {rows.mean():.4f}"


def agreement(sample: Chunks, chunk_vectors: dict, query_vectors: dict) -> list[str]:
    """Cosine lines: int8 to fp32 on chunks and questions, and the stored vectors to fresh fp32 ones."""
    fp32, int8 = chunk_vectors["fp32"], chunk_vectors["int8"]  # (N, 384) each
    n, q = f"{len(sample.texts):,} chunks", f"{len(query_vectors['fp32'])} questions"
    return [
        f"cosine int8 vs fp32, {n}: {cosines(int8, fp32)}",
        f"cosine int8 vs fp32, {q}: {cosines(query_vectors['int8'], query_vectors['fp32'])}",
        f"cosine stored vs fresh fp32, {n}: {cosines(sample.stored, fp32)}",
    ]


def warm_up() -> None:
    """Load both models and run each once, so no timing includes a load."""
    for encode in ENCODERS.values():
        encode(["warm up", "a slightly longer text to warm up with"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000, help="chunk texts timed on the ingest path")
    parser.add_argument("--queries", type=int, default=200, help="test questions timed one at a time")
    parser.add_argument(
        "--distractors", type=int, default=20000, help="random chunks added to the sub-corpus"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each path per model, taking turns")
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    args = parser.parse_args()
    console, engine = Console(), stack.ready_app_db(Settings())
    cid = collection_of_fp32(engine, args.collection)
    sample = read_chunks(engine, store.chunks.c.collection_id == cid, args.chunks, args.seed)
    queries = sample_queries(SPLITS, args.queries, args.seed)
    warm_up()
    chunk_vectors, batch_ms = ingest_path(sample.texts, args.batch_size, args.repeats)
    query_vectors, query_ms = query_path(list(queries.question), args.repeats)
    console.print(speed_table(len(sample.texts), args.batch_size, args.repeats, batch_ms, query_ms))
    for line in agreement(sample, chunk_vectors, query_vectors):
        console.print(line)
    quality(console, engine, cid, queries, query_vectors, args)


def quality(
    console: Console,
    engine: sa.Engine,
    cid: int,
    queries: pd.DataFrame,
    query_vectors: dict,
    args: argparse.Namespace,
) -> None:
    """Embed the sub-corpus with int8 and print the exact-search quality of the three pairings."""
    corpus = subcorpus(engine, cid, sense_docs(queries), args.distractors, args.seed)
    start = time.perf_counter()
    int8_docs = onnx_embed.encode(corpus.texts, args.batch_size)  # (N, 384)
    seconds = time.perf_counter() - start
    console.print(
        f"sub-corpus: {len(corpus.texts):,} chunks of {len(set(corpus.doc_ids)):,} documents "
        f"(int8 embedded in {seconds:.0f} s; fp32 are the stored vectors)"
    )
    pairs = {
        "fp32 docs, fp32 queries": (corpus.stored, query_vectors["fp32"]),
        "fp32 docs, int8 queries": (corpus.stored, query_vectors["int8"]),
        "int8 docs, int8 queries": (int8_docs, query_vectors["int8"]),
    }
    relevant = list(queries.relevant)
    results = {name: exact_quality(docs, corpus, q, relevant) for name, (docs, q) in pairs.items()}
    console.print(quality_table(results, len(queries)))
    for line in ratio_lines(results):
        console.print(line)


def quality_table(results: dict[str, dict[str, float]], n_queries: int) -> Table:
    """One row of mean rank metrics per pairing."""
    table = Table(title=f"Exact search, {n_queries} test questions, distinct documents")
    table.add_column("pairing")
    for metric in QUALITY_METRICS:
        table.add_column(metric, justify="right")
    for name, result in results.items():
        table.add_row(name, *(f"{result[m]:.4f}" for m in QUALITY_METRICS))
    return table


def ratio_lines(results: dict[str, dict[str, float]]) -> list[str]:
    """recall@10 and MRR@10 of each pairing over the all-fp32 one (the first)."""
    base, *others = results
    return [
        f"{name} / {base}: recall_at_10 {results[name]['recall_at_10'] / results[base]['recall_at_10']:.3f}, "
        f"mrr {results[name]['mrr'] / results[base]['mrr']:.3f}"
        for name in others
    ]


if __name__ == "__main__":
    main()
