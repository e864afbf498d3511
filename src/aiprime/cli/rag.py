"""`aiprime rag ingest|search|eval|train-reranker|calibrate`: the retrieval store in PostgreSQL and its re-ranker."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiprime.cli.render import console
from aiprime.errors import InvalidInput, ModelNotReady, NotFound
from aiprime.rag import evaluate as rag_eval
from aiprime.rag import store
from aiprime.rag.embed import make_embedder
from aiprime.rag.ingest import DEFAULT_COLLECTION, IngestReport, ingest_splits
from aiprime.rag.query_kinds import KINDS
from aiprime.rag.search import EF_SEARCH, Filters, Hit
from aiprime.rag.search import search as rag_search
from aiprime.services import stack
from aiprime.settings import Settings

if TYPE_CHECKING:
    from aiprime.rag.generators import Generator
    from aiprime.rag.rerank import Reranker

app = typer.Typer(no_args_is_help=True, help="Ingest, search and evaluate the retrieval store (pgvector).")
SPLITS = Path("data/splits")
_COLLECTION = typer.Option(help="Collection name.")
_QUERY_SPLITS = typer.Option(help="Folder of queries and classification.parquet.")
_SEED = typer.Option(help="Sampling seed.")


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
    engine = stack.ready_app_db(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("embedding and writing", total=None)
        report = ingest_splits(
            engine,
            splits,
            make_embedder(settings),
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
        stack.ready_app_db(settings),
        query,
        make_embedder(settings),
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
    splits: Annotated[Path, _QUERY_SPLITS] = SPLITS,
    queries: Annotated[int, typer.Option(min=1, help="Test-split queries to sample.")] = 1000,
    seed: Annotated[int, _SEED] = 0,
    collection: Annotated[str, _COLLECTION] = DEFAULT_COLLECTION,
    reranker: Annotated[
        str, typer.Option(help="Re-ranker of hybrid+rerank: an MLflow alias (champion), a folder, or none.")
    ] = "champion",
    answers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also answer and check N test questions of each kind (abstaining below the re-ranker's "
            "threshold for the kind, or one calibrated now on N val queries of each kind); 0 = retrieval only.",
        ),
    ] = 0,
    generator: Annotated[
        str,
        typer.Option(
            help="What drafts the answers: `model` (SmolLM2, or AIPRIME_GENERATOR_URL), `extractive` (the best "
            "passage quoted, no model), or a base model's .gguf file (plain few-shot completion, e.g. gemma-3-270m)."
        ),
    ] = "model",
    kinds: Annotated[
        str,
        typer.Option(
            help="The query kinds --answers answers, comma-separated (sense, definition, keyword, code)."
        ),
    ] = ",".join(KINDS),
) -> None:
    """Recall@1/10, MRR and nDCG@10 of dense, lexical, hybrid and re-ranked hybrid; HNSW recall and latency;
    with --answers, how grounded the generator's answers are."""
    from aiprime.rag.rerank import resolve_reranker  # torch: loaded only when evaluating

    asked_kinds = answer_kinds(kinds)
    settings = Settings()
    model = resolve_reranker(reranker, settings.mlflow_url)
    if model is None and reranker != "none":
        console.print(
            f"hybrid+rerank is left out: no aiprime-reranker@{reranker} at {settings.mlflow_url} (or it is down). "
            "Train one with `aiprime rag train-reranker`, or pass --reranker DIR."
        )
    result = rag_eval.evaluate(
        stack.ready_app_db(settings),
        make_embedder(settings),
        splits,
        n_queries=queries,
        seed=seed,
        collection=collection,
        reranker=model,
    )
    console.print(quality_table(result))
    if "rerank/p50_ms" in result:
        console.print(rerank_latency(result))
    console.print(hnsw_table(result))
    if answers:
        for kind, figures in grounded_answers(
            settings, splits, answers, seed, collection, model, generator, asked_kinds
        ).items():
            shown = {k: v for k, v in figures.items() if not k.startswith("curve/")}
            console.print(answers_table(shown, kind))
            console.print(curve_table(figures))


def answer_kinds(text: str) -> tuple[str, ...]:
    """The query kinds `--kinds` names; InvalidInput naming the known ones for any other."""
    chosen = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    if not chosen or any(kind not in KINDS for kind in chosen):
        raise InvalidInput(f"--kinds {text!r}: name some of {', '.join(KINDS)}, comma-separated.")
    return chosen


def grounded_answers(
    settings: Settings, splits: Path, n: int, seed: int, collection: str, reranker: Reranker | None,
    generator: str = "model", kinds: tuple[str, ...] = KINDS,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Answer and check `n` test questions of each query kind end to end (kind -> figures), abstaining below
    the re-ranker's stored threshold of each kind (as the served stack does), or below ones calibrated now on
    `n` val queries of each kind when it has none of its own per kind."""
    from aiprime.rag import answer_eval
    from aiprime.rag.rerank import rerank

    engine, embedder = stack.ready_app_db(settings), make_embedder(settings)
    bound = (lambda q, hits, top_n: rerank(q, hits, reranker, top_n)) if reranker is not None else None
    if reranker is not None and reranker.calibrated_per_kind():
        min_score = reranker.thresholds()
        figures = {f"calibration/min_score (stored, {kind})": t for kind, t in min_score.items()}
    else:
        min_score, figures = answer_eval.calibrate_kinds(
            engine, embedder, splits, n, seed=seed, rerank=bound, collection=collection
        )
    by_kind = answer_eval.answers_by_kind(
        engine, embedder, splits, n, drafting_model(settings, generator), seed=seed, kinds=kinds,
        rerank=bound, min_score=min_score, collection=collection,
    )  # fmt: skip
    return {kind: figures | found for kind, found in by_kind.items()}


def drafting_model(settings: Settings, choice: str) -> Generator | None:
    """The generator `--generator` names: None for `extractive`, a base GGUF file, or the settings' model."""
    from aiprime.rag.generators import LlamaCppCompletionGenerator, generator_from_settings

    if choice == "extractive":
        return None
    if choice.endswith(".gguf"):
        if not Path(choice).is_file():
            raise NotFound(
                f"--generator {choice}: no such file. Pass a base model's .gguf, `model` or `extractive`."
            )
        return LlamaCppCompletionGenerator(Path(choice), n_threads=1)
    if choice != "model":
        raise InvalidInput(f"--generator {choice!r}: pass `model`, `extractive` or a .gguf file.")
    return generator_from_settings(settings, n_threads=1)


@app.command("calibrate")
def calibrate_command(
    splits: Annotated[Path, _QUERY_SPLITS] = SPLITS,
    questions: Annotated[
        int, typer.Option(min=2, help="Val-split queries of each kind to calibrate on.")
    ] = 200,
    seed: Annotated[int, _SEED] = 0,
    collection: Annotated[str, _COLLECTION] = DEFAULT_COLLECTION,
    reranker: Annotated[
        str, typer.Option(help="The re-ranker: an MLflow alias (champion) or a folder.")
    ] = "champion",
) -> None:
    """Choose the score below which answers abstain, one per query kind on val queries of that kind, and store
    them with the re-ranker.

    The retriever server reads them with the re-ranker and passes each question's kind's to the generator."""
    from aiprime.rag import answer_eval
    from aiprime.rag.rerank import rerank, resolve_reranker, save_calibration, threshold_figures

    settings = Settings()
    model = resolve_reranker(reranker, settings.mlflow_url)
    if model is None:
        raise ModelNotReady(
            f"No re-ranker {reranker!r} (no aiprime-reranker@{reranker} at {settings.mlflow_url}, or it is down). "
            "min_score is a probability of the re-ranker: train one with `aiprime rag train-reranker`."
        )
    thresholds, figures = answer_eval.calibrate_kinds(
        stack.ready_app_db(settings), make_embedder(settings), splits, questions, seed=seed,
        rerank=lambda q, hits, top_n: rerank(q, hits, model, top_n), collection=collection,
    )  # fmt: skip
    where = save_calibration(reranker if Path(reranker).is_dir() else settings.mlflow_url,
                             threshold_figures(thresholds) | figures, alias=reranker)  # fmt: skip
    console.print(figures_table("Calibration", figures))
    chosen = ", ".join(f"{kind} {t:.4f}" for kind, t in thresholds.items())
    console.print(f"min_score per kind ({chosen}) stored with {where}; restart the retriever to serve them.")


def figures_table(title: str, figures: dict[str, float]) -> Table:
    """One row per figure."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.4f}")
    return table


def answers_table(figures: dict[str, float], kind: str = "sense") -> Table:
    """The `calibration/*` and `answers/*` figures of `grounded_answers` for one query kind, one row each."""
    questions = int(figures["answers/questions"])
    return figures_table(f"Grounded answers ({questions} test {kind} questions)", figures)


def curve_table(figures: dict[str, float]) -> Table:
    """The `curve/*` figures of `grounded_answers`: precision against coverage as the threshold on the
    answers' confidence rises (a sense question's sense share, else the best hit's score)."""
    table = Table(
        title="Precision vs coverage", caption="precision: cites the relevant passage; coverage: answered"
    )
    for column in ("coverage", "threshold", "precision"):
        table.add_column(column, justify="right")
    for key in (k.removesuffix(" precision") for k in figures if k.endswith(" precision")):
        coverage = key.removeprefix("curve/coverage ")
        table.add_row(coverage, f"{figures[f'{key} threshold']:.4f}", f"{figures[f'{key} precision']:.4f}")
    return table


def quality_table(result: dict[str, float]) -> Table:
    """The `{method}/{metric}` entries of an evaluation as one row per method."""
    table = Table(title=f"Retrieval quality ({int(result['queries'])} test queries)")
    table.add_column("method")
    for metric in rag_eval.QUALITY_METRICS:
        table.add_column(metric, justify="right")
    for method in (m for m in rag_eval.METHODS if f"{m}/mrr" in result):  # hybrid+rerank needs a re-ranker
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


def rerank_latency(result: dict[str, float]) -> str:
    """One line: milliseconds per query to re-rank hybrid's candidates."""
    return (
        f"re-ranking {int(result['rerank/candidates'])} candidates per query: "
        f"p50 {result['rerank/p50_ms']:.0f} ms, p95 {result['rerank/p95_ms']:.0f} ms"
    )


@app.command("train-reranker")
def train_reranker_command(
    splits: Annotated[Path, typer.Option(help="Folder of queries and documents.parquet.")] = SPLITS,
    collection: Annotated[str, _COLLECTION] = DEFAULT_COLLECTION,
    out: Annotated[
        Path | None, typer.Option(help="Folder to save it in (default: <home>/models/reranker).")
    ] = None,
    train_queries: Annotated[int, typer.Option(min=1, help="Train-split questions (one group each).")] = 1500,
    val_queries: Annotated[int, typer.Option(min=1, help="Val-split questions for selection.")] = 150,
    depth: Annotated[int, typer.Option(min=2, help="Hybrid candidates mined per question.")] = 30,
    negatives: Annotated[int, typer.Option(min=1, help="Negatives per question.")] = 5,
    sense_negatives: Annotated[int, typer.Option(min=0, help="Of which other senses of the word.")] = 2,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the train groups.")] = 1,
    batch_queries: Annotated[int, typer.Option(min=1, help="Questions per optimizer step.")] = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 2e-4,
    frozen_layers: Annotated[int, typer.Option(min=0, help="Lowest encoder layers kept frozen.")] = 2,
    max_len: Annotated[int, typer.Option(min=16, help="Word pieces per (question, chunk) pair.")] = 64,
    layers: Annotated[int, typer.Option(min=1, max=6, help="Lowest MiniLM encoder layers kept.")] = 6,
    seed: Annotated[int, typer.Option(help="Sampling and initialisation seed.")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 2,
    register: Annotated[
        bool, typer.Option(help="Log to MLflow as aiprime-reranker and gate the champion.")
    ] = True,
) -> None:
    """Fine-tune a cross-encoder re-ranker from MiniLM on mined hybrid negatives; register it in MLflow."""
    from aiprime.rag import rerank_train  # torch and transformers: loaded only for this command
    from aiprime.rag.rerank import RerankerConfig

    settings = Settings()
    config = rerank_train.RerankerTrainConfig(
        train_queries=train_queries,
        val_queries=val_queries,
        depth=depth,
        negatives=negatives,
        sense_negatives=sense_negatives,
        epochs=epochs,
        batch_queries=batch_queries,
        lr=lr,
        frozen_layers=frozen_layers,
        seed=seed,
        threads=threads,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting", total=None)
        trained = rerank_train.train_reranker(
            stack.ready_app_db(settings),
            make_embedder(settings),
            splits,
            out or settings.home / "models" / "reranker",
            config,
            RerankerConfig(max_len=max_len, layers=layers),
            collection,
            on_progress=lambda stage, done, total: progress.update(
                task, description=stage, completed=done, total=total
            ),
        )
    console.print(_trained_table(trained.metrics, trained.folder))
    if register:
        params = {**asdict(config), "max_len": max_len, "layers": layers, "collection": collection}
        console.print(rerank_train.register_reranker(settings.mlflow_url, trained, params).reason)


def _trained_table(metrics: dict[str, float], folder: Path) -> Table:
    table = Table(title=f"Re-ranker saved in {folder}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = {
        "val MRR@10, hybrid": f"{metrics['val/hybrid_mrr']:.4f}",
        "val MRR@10, hybrid + re-rank": f"{metrics['val/reranked_mrr']:.4f}",
        "train groups (pairs)": f"{int(metrics['train/groups']):,} ({int(metrics['train/pairs_per_epoch']):,})",
        "loss, first -> last 10 steps": f"{metrics['train/loss_first']:.3f} -> {metrics['train/loss_last']:.3f}",
        "mining s": f"{metrics['time/mining_s']:.0f}",
        "training s": f"{metrics['time/training_s']:.0f}",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table
