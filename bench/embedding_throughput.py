"""The first run's embedding paths, old against new, in one run: speed per source and dense retrieval quality.

- old: all-MiniLM-L6-v2 fp32 through sentence-transformers (`moe.embeddings.encode_texts`, batches of 64),
  what `AIPRIME_RAG_EMBEDDER=minilm` ingests with and what the gate's glosses are embedded with;
- new: its int8 ONNX export (`rag.onnx_embed.encode`: length-sorted batches of at most BATCH_TOKENS word
  pieces, WORKERS passes side by side, one core each), `AIPRIME_RAG_EMBEDDER=minilm-int8`;
- fp32 onnx: the fp32 weights exported to ONNX and run the same way (`moe.onnx_export.encode_fp32`), what
  training's cache misses of at least `embeddings.BULK_TEXTS` texts are embedded with (the same vectors as
  old: the quality columns show it).

Speed: `--glosses` WordNet chunks and `--long` FOLDOC / Python docs chunks (random, seeded), chunked exactly as
ingest chunks them, plus `--glosses` gate glosses (classification texts), each path uncached and warm, the paths
taking turns `--repeats` times, the best run counting. It prints wall and CPU milliseconds per text (CPU
time counts both cores; under other jobs wall time is inflated and CPU time much less so) and the whole
corpus's projected embedding time: each source's chunk count times its wall ms per text.

Quality: exact cosine search (numpy, no index) of `--queries` test questions over a subset corpus built as
bench/rag_answer_subset.py builds it (every question's relevant sense, every sense sharing a lemma with it, and
`--random` other documents of any source), documents and questions embedded by the same path; recall@1,
recall@10, MRR@10, nDCG@10 over distinct documents.

Run: `python bench/embedding_throughput.py --splits data/splits [--glosses 3000] [--long 2000] [--queries 500]
[--random 3000] [--repeats 1] [--seed 0]`.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rag_answer_subset import subset_ids
from rich.console import Console
from rich.table import Table

from aiprime.moe import embeddings, onnx_export
from aiprime.rag import onnx_embed
from aiprime.rag.chunking import chunk_document
from aiprime.rag.corpus import Document, load_corpus
from aiprime.rag.evaluate import QUALITY_METRICS, distinct_docs, mean_metrics, rank_metrics, sample_queries

Encode = Callable[[Sequence[str], int], np.ndarray]  # (texts, batch_size) -> (N, 384), unit-norm
DEPTH = 50  # chunks ranked per question before collapsing to distinct documents
EXPORT_CACHE = (
    Path(os.environ.get("AIPRIME_HOME", ".aiprime")) / "embeddings"
)  # where the fp32 export is kept
PATHS: dict[str, Encode] = {
    "old fp32": embeddings.encode_texts,
    "new int8": onnx_embed.encode,
    "fp32 onnx": lambda texts, batch_size: onnx_export.encode_fp32(list(texts), EXPORT_CACHE),
}


def chunks_of(docs: Sequence[Document]) -> tuple[list[str], list[str]]:
    """Every chunk text of `docs`, as ingest chunks them, and the doc_id of each."""
    texts, owners = [], []
    for doc in docs:
        for chunk in chunk_document(doc.source, doc.title, doc.text):
            texts.append(chunk.content)
            owners.append(doc.doc_id)
    return texts, owners


def speed_sets(corpus: list[Document], splits: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """Seeded random texts per source: store chunks of WordNet and of FOLDOC / Python docs, and gate glosses."""
    rng = random.Random(args.seed)
    wordnet, _ = chunks_of([d for d in corpus if d.source == "wordnet"])
    long, _ = chunks_of([d for d in corpus if d.source != "wordnet"])
    glosses = pd.read_parquet(splits / "classification.parquet", columns=["text"]).text.tolist()
    return {
        "store: WordNet chunks": rng.sample(wordnet, args.glosses),
        "store: FOLDOC and Python docs chunks": rng.sample(long, args.long),
        "gate: glosses": rng.sample(glosses, args.glosses),
    }


def timed(encode: Encode, texts: list[str]) -> tuple[np.ndarray, float, float]:
    """`encode(texts, 64)` and its wall and CPU milliseconds per text."""
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = encode(texts, 64)  # (N, 384)
    return (
        vectors,
        (time.perf_counter() - wall) * 1000 / len(texts),
        (time.process_time() - cpu) * 1000 / len(texts),
    )


def speeds(sets: dict[str, list[str]], repeats: int) -> dict[tuple[str, str], tuple[float, float]]:
    """Best (wall, CPU) ms per text of each path on each set, the paths taking turns."""
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for _ in range(repeats):
        for name, texts in sets.items():
            for path, encode in PATHS.items():
                _, wall, cpu = timed(encode, texts)
                best[name, path] = min(best.get((name, path), (np.inf, np.inf)), (wall, cpu))
    return best


def speed_table(sets: dict[str, list[str]], best: dict, counts: dict[str, int]) -> Table:
    """ms per text of every path per set (wall, CPU, wall against "old fp32"), and each set's full count
    projected in minutes of wall time per path."""
    table = Table(title=f"Embedding speed, ms per text, uncached (load average {os.getloadavg()[0]:.1f})")
    table.add_column("texts")
    for path in PATHS:
        for column in ("wall", "CPU", "/old") if path != "old fp32" else ("wall", "CPU"):
            table.add_column(f"{path} {column}", justify="right")
    table.add_column("full count", justify="right")
    for path in PATHS:
        table.add_column(f"{path} min", justify="right")
    for name, texts in sets.items():
        old_wall = best[name, "old fp32"][0]
        cells = []
        for path in PATHS:
            wall, cpu = best[name, path]
            cells += [f"{wall:.2f}", f"{cpu:.2f}"] + (
                [f"{wall / old_wall:.2f}"] if path != "old fp32" else []
            )
        full = counts[name]
        minutes = [f"{full * best[name, path][0] / 60000:.1f}" for path in PATHS]
        table.add_row(f"{name} ({len(texts):,})", *cells, f"{full:,}", *minutes)
    return table


def exact_quality(docs: np.ndarray, owners: list[str], queries: np.ndarray, relevant: Sequence[str]) -> dict:
    """Mean rank metrics of exact cosine search of `queries` (Q, 384) over chunk vectors `docs` (N, 384)."""
    doc_of = dict(enumerate(owners))
    scores = queries @ docs.T  # (Q, N)
    top = np.argpartition(-scores, DEPTH, axis=1)[:, :DEPTH]  # (Q, DEPTH), unordered
    per_query = []
    for row, (candidates, wanted) in enumerate(zip(top, relevant, strict=True)):
        ordered = candidates[np.argsort(-scores[row, candidates])]  # (DEPTH,) best first
        per_query.append(rank_metrics(distinct_docs(ordered.tolist(), doc_of), {wanted}, 10))
    return mean_metrics(per_query)


def quality_table(corpus: list[Document], splits: Path, args: argparse.Namespace) -> Table:
    """Dense exact-search quality of each path on the subset corpus."""
    queries = sample_queries(splits, args.queries, args.seed)
    frame = pd.DataFrame([d.__dict__ for d in corpus])
    keep = subset_ids(frame, set(queries.relevant), args.random, args.seed)
    texts, owners = chunks_of([d for d in corpus if d.doc_id in keep])
    table = Table(
        title=f"Dense exact search, {len(queries)} test questions, {len(texts):,} chunks of {len(keep):,} documents"
    )
    table.add_column("path")
    for metric in QUALITY_METRICS:
        table.add_column(metric, justify="right")
    for path, encode in PATHS.items():
        result = exact_quality(
            encode(texts, 64), owners, encode(list(queries.question), 64), list(queries.relevant)
        )
        table.add_row(path, *(f"{result[m]:.4f}" for m in QUALITY_METRICS))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--glosses", type=int, default=3000, help="WordNet chunks and gate glosses timed")
    parser.add_argument("--long", type=int, default=2000, help="FOLDOC and Python docs chunks timed")
    parser.add_argument("--queries", type=int, default=500, help="test questions for quality")
    parser.add_argument("--random", type=int, default=3000, help="other documents in the quality subset")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console, corpus = Console(width=150), load_corpus(args.splits)
    for encode in PATHS.values():
        encode(["warm up", "a slightly longer text to warm up with"], 64)
    sets = speed_sets(corpus, args.splits, args)
    wordnet = sum(d.source == "wordnet" for d in corpus)
    counts = {
        "store: WordNet chunks": wordnet,
        "store: FOLDOC and Python docs chunks": len(
            chunks_of([d for d in corpus if d.source != "wordnet"])[0]
        ),
        "gate: glosses": wordnet,
    }
    console.print(speed_table(sets, speeds(sets, args.repeats), counts))
    console.print(quality_table(corpus, args.splits, args))


if __name__ == "__main__":
    main()
