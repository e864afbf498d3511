"""`aiprime rag ingest|search|eval`: the retrieval store in PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiprime.cli.render import console
from aiprime.rag import evaluate as rag_eval
from aiprime.rag import store
from aiprime.rag.embed import default_embedder
from aiprime.rag.ingest import DEFAULT_COLLECTION, IngestReport, ingest_splits
from aiprime.rag.search import EF_SEARCH, Filters, Hit
from aiprime.rag.search import search as rag_search
from aiprime.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Ingest, search and evaluate the retrieval store (pgvector).")
SPLITS = Path("data/splits")
_COLLECTION = typer.Option(help="Collection name.")


@app.command()
def ingest(
    splits: Annotated[
        Path, typer.Option(help="Folder of documents.parquet and classification.parquet.")
    ] = SPLITS,
    collection: Annotated[str, _COLLECTION] = DEFAULT_COLLECTION,
    limit: Annotated[
        int, typer.Option(min=0, help="Keep the first N documents of each source (0 = all).")
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per transaction.")] = 256,
    m: Annotated[int, typer.Option(help="HNSW links per node.")] = 16,
    ef_construction: Annotated[int, typer.Option(help="HNSW candidate list while building.")] = 64,
) -> None:
    """Chunk, embed and upsert the documents (only what changed), then build the HNSW index."""
    settings = Settings()
    engine = store.open_store(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("embedding and writing", total=None)
        report = ingest_splits(
            engine,
            splits,
            default_embedder(settings),
            collection=collection,
            limit=limit or None,
            batch_size=batch_size,
            hnsw=store.HnswParams(m, ef_construction),
            on_batch=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(_report_table(collection, report))


def _report_table(collection: str, report: IngestReport) -> Table:
    table = Table(title=f"Ingested into collection {collection!r}")
    for column in ("documents", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for name in ("inserted", "replaced", "unchanged", "deleted", "chunks_written"):
        table.add_row(name.replace("_", " "), f"{getattr(report, name):,}")
    built = "kept as it was" if report.hnsw_build_s is None else f"built in {report.hnsw_build_s:.1f} s"
    table.add_row("HNSW index", built)
    return table


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='What to look for, e.g. "a small domesticated dog".')],
    k: Annotated[int, typer.Option(help="Number of results.")] = 10,
    source: Annotated[str | None, typer.Option(help="Only this source: wordnet, foldoc or pydocs.")] = None,
    domain: Annotated[str | None, typer.Option(help="Only this domain (living, ..., computing).")] = None,
    prefer_domain: Annotated[str | None, typer.Option(help="Boost this domain (the gate's choice).")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    ef_search: Annotated[int, typer.Option(help="HNSW candidate list size.")] = EF_SEARCH,
    collection: Annotated[str, _COLLECTION] = DEFAULT_COLLECTION,
) -> None:
    """Search the store and print the best chunks."""
    settings = Settings()
    hits = rag_search(
        store.open_store(settings),
        query,
        default_embedder(settings),
        k=k,
        mode=mode,
        collection=collection,
        filters=Filters(source, domain),
        prefer_domain=prefer_domain,
        ef_search=ef_search,
    )
    console.print(_hits_table(query, hits))


def _hits_table(query: str, hits: list[Hit]) -> Table:
    table = Table(title=f"Results for {query!r}")
    for column in ("#", "score", "doc_id", "source", "domain", "text"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left", overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        body = hit.content.split("\n", 1)[-1].strip().replace("\n", " ")
        snippet = body if len(body) <= 160 else body[:157] + "..."
        table.add_row(str(rank), f"{hit.score:.4f}", hit.doc_id, hit.source, hit.domain, snippet)
    return table


@app.command("eval")
def eval_command(
    splits: Annotated[Path, typer.Option(help="Folder of queries and classification.parquet.")] = SPLITS,
    queries: Annotated[int, typer.Option(min=1, help="Test-split queries to sample.")] = 1000,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    collection: Annotated[str, _COLLECTION] = DEFAULT_COLLECTION,
) -> None:
    """Recall@1/10, MRR and nDCG@10 of dense, lexical and hybrid retrieval; HNSW recall and latency."""
    settings = Settings()
    result = rag_eval.evaluate(
        store.open_store(settings),
        default_embedder(settings),
        splits,
        n_queries=queries,
        seed=seed,
        collection=collection,
    )
    console.print(quality_table(result))
    console.print(hnsw_table(result))


def quality_table(result: dict[str, float]) -> Table:
    """The `{method}/{metric}` entries of an evaluation as one row per method."""
    table = Table(title=f"Retrieval quality ({int(result['queries'])} test queries)")
    table.add_column("method")
    for metric in rag_eval.QUALITY_METRICS:
        table.add_column(metric, justify="right")
    for method in rag_eval.METHODS:
        table.add_row(method, *(f"{result[f'{method}/{metric}']:.4f}" for metric in rag_eval.QUALITY_METRICS))
    return table


def hnsw_table(result: dict[str, float]) -> Table:
    """The `hnsw/ef{N}/...` entries of an evaluation as one row per ef_search."""
    table = Table(title=f"HNSW vs exact search ({int(result['hnsw/vectors']):,} vectors)")
    for column in ("ef_search", "recall@10", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right")
    for ef in rag_eval.EF_VALUES:
        row = [result[f"hnsw/ef{ef}/{name}"] for name in ("recall_at_10", "p50_ms", "p95_ms")]
        table.add_row(str(ef), f"{row[0]:.4f}", f"{row[1]:.2f}", f"{row[2]:.2f}")
    return table
