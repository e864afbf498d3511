"""Retrieval assets: the documents' embeddings in pgvector, the HNSW index over them, and its recall check.

`document_embeddings` chunks and embeds `documents.parquet` into the collection `settings.rag_collection`,
writing only documents whose content hash changed (`aiprime.rag.ingest`). Its data version names the
documents' DVC md5 and the embedding model, so Dagster marks it stale exactly when either changes.
`wordnet_embeddings` fills the WordNet part first (EARLY_SOURCES): it is all the first answer needs
(`serving_assets.first_answer`), so the stack serves while `document_embeddings` adds FOLDOC and the Python
docs, a step Dagster runs only once nothing else can run (FILL_LATER); the retriever reads the live table.
`vector_index` builds the cosine HNSW index with the configured m and ef_construction (kept when one with
those parameters exists; pgvector maintains it as rows change). The check `index_recall` compares the
index's top 10 with exact search on test-split questions at the ef_search the servers use.

`reranker` fine-tunes the cross-encoder on every query kind (`aiprime.rag.rerank_train`), registers it as
`aiprime-reranker` and promotes it to champion when its val MRR beats the champion's; it is kept (no
training) when the last materialisation had the same `training_key` (its config, the documents and
questions, the embedding model, the retrieval code) and its champion is still the champion.
`reranker_calibration` then stores the champion's `min_score` (`aiprime rag calibrate`) unless that version
already carries one. The served retriever loads that champion with its threshold.
"""

import contextlib
import hashlib
import json
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from aiprime import versioning
from aiprime.observability import progress
from aiprime.orchestration.resources import Workspace
from aiprime.rag import store
from aiprime.rag.query_kinds import KINDS

GROUP = "retrieval"
RERANKING = "reranking"  # the re-ranker's own group: materialising retrieval alone trains nothing
RECALL_TARGET = 0.95  # the bar for HNSW recall@10 against exact search
RECALL_QUERIES = 200  # test-split questions the check embeds (about 3 s of MiniLM here)
PROGRESS_EVERY = 20  # log one line per this many batches
RERANKER_CODE = ("rerank", "rerank_train", "query_kinds", "fusion", "search", "lexical", "evaluate", "embed")
CALIBRATION_QUESTIONS = 100  # val queries of each kind `reranker_calibration` retrieves and re-ranks
EARLY_SOURCES = ("wordnet",)  # the store's part the first answer needs; FOLDOC and Python docs fill in later
# Dagster's in-process executor runs, among the steps it can run, the highest priority first (default 0): a step
# tagged so waits until the first answer's steps (the models, the WordNet part of the store) are done.
FILL_LATER = {"dagster/priority": "-1"}


def embedding_code_version() -> str:
    """A short hash of the code that shapes stored chunks (corpus, chunking, ingest, embedder)."""
    rag = Path(__file__).resolve().parents[1] / "rag"
    return versioning.fingerprint(
        [rag / f"{name}.py" for name in ("corpus", "chunking", "ingest", "embed", "onnx_embed")]
    )[:16]


class IndexConfig(dg.Config):
    """Build parameters of the HNSW index."""

    m: int = Field(16, description="Links per node: more raises recall, memory and build time.")
    ef_construction: int = Field(64, description="Candidate list while building (at least 2*m).")


def build_embeddings_asset(code_version: str) -> dg.AssetsDefinition:
    """The `document_embeddings` asset with `code_version` (see `embedding_code_version`): every source,
    after the first answer."""

    @dg.asset(
        group_name=GROUP,
        deps=[dg.AssetKey("documents"), dg.AssetKey("classification"), dg.AssetKey("wordnet_embeddings")],
        kinds={"pgvector", "postgres"},
        code_version=code_version,
        op_tags=FILL_LATER,
    )
    def document_embeddings(
        context: dg.AssetExecutionContext, workspace: dg.ResourceParam[Workspace]
    ) -> dg.MaterializeResult:
        """Every document chunked and embedded (all-MiniLM-L6-v2, fp32 or int8 by AIPRIME_RAG_EMBEDDER) into
        pgvector; only what changed is written, and documents no longer in the data are deleted."""
        return embed_documents(context, workspace, sources=None)

    return document_embeddings


def build_early_embeddings_asset(code_version: str) -> dg.AssetsDefinition:
    """The `wordnet_embeddings` asset with `code_version`: the EARLY_SOURCES part of the store, first."""

    @dg.asset(
        group_name=GROUP,
        deps=[dg.AssetKey("documents"), dg.AssetKey("classification")],
        kinds={"pgvector", "postgres"},
        code_version=code_version,
    )
    def wordnet_embeddings(
        context: dg.AssetExecutionContext, workspace: dg.ResourceParam[Workspace]
    ) -> dg.MaterializeResult:
        """The WordNet documents chunked and embedded into pgvector before anything else of the store, so the
        stack can answer while `document_embeddings` adds FOLDOC and the Python docs; deletes nothing."""
        return embed_documents(context, workspace, sources=EARLY_SOURCES)

    return wordnet_embeddings


def embed_documents(
    context: dg.AssetExecutionContext, workspace: Workspace, sources: tuple[str, ...] | None
) -> dg.MaterializeResult:
    """Ingest the documents of `sources` (None: all, pruning the rest) into the collection, with progress."""
    from aiprime.rag.corpus import data_version, load_corpus
    from aiprime.rag.embed import make_embedder
    from aiprime.rag.ingest import ingest

    settings, splits = workspace.settings, workspace.root / "data" / "splits"
    embedder, version = make_embedder(settings), data_version(splits)
    docs = [doc for doc in load_corpus(splits) if sources is None or doc.source in sources]
    what = "changed documents" if sources is None else f"changed {' and '.join(sources)} documents"
    with progress.stage(f"embedding {what}") as embedding:

        def on_batch(done: int, total: int) -> None:
            embedding.update(done, total)
            if done == total or done // 256 % PROGRESS_EVERY == 0:
                context.log.info(f"embedded {done:,} of {total:,} {what}")

        report = ingest(
            workspace.app_db(), docs, embedder, collection=settings.rag_collection,
            data_version=version, prune=sources is None, on_batch=on_batch,
        )  # fmt: skip
    described = f"{version}\x00{embedder.name}" + (f"\x00{','.join(sources)}" if sources else "")
    return dg.MaterializeResult(
        metadata={
            **asdict(report),
            "collection": settings.rag_collection,
            "sources": ", ".join(sources or ("all",)),
            "embedding_model": embedder.name,
            "documents_md5": version or "unknown",
        },
        data_version=dg.DataVersion(hashlib.sha256(described.encode()).hexdigest()[:16]),
    )


@dg.asset(group_name=GROUP, deps=[dg.AssetKey("document_embeddings")], kinds={"pgvector"})
def vector_index(config: IndexConfig, workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """The cosine HNSW index of the chunk embeddings (rebuilt only when its parameters change)."""
    from aiprime.rag.evaluate import uses_hnsw

    params = store.HnswParams(config.m, config.ef_construction)
    engine = workspace.app_db()
    with engine.connect() as conn:
        kept = store.hnsw_params(conn) == params
    with contextlib.nullcontext() if kept else index_build_progress(engine, "building the HNSW index"):
        seconds = store.ensure_hnsw_index(engine, params)
    built = "kept (same parameters)" if seconds is None else f"built in {seconds:.1f} s"
    return dg.MaterializeResult(
        metadata={
            "m": params.m,
            "ef_construction": params.ef_construction,
            "build": built,
            "planner_uses_index": uses_hnsw(engine, workspace.settings.rag_collection),
        },
        data_version=dg.DataVersion(f"m{params.m}-ef{params.ef_construction}"),
    )


@contextlib.contextmanager
def index_build_progress(
    engine: Any, name: str, table: str = "rag_chunks", every_s: float = 2.0
) -> Iterator[progress.Stage]:
    """A progress stage named `name`, fed every `every_s` seconds from PostgreSQL's report of the index being
    built on `table` (`pg_stat_progress_create_index`: pgvector counts the tuples it has loaded) while the
    block runs the build on another connection; when the block ends without an error, all of them."""
    import sqlalchemy as sa

    query = sa.text(
        "SELECT tuples_done, tuples_total FROM pg_stat_progress_create_index "
        "WHERE relid = CAST(:table AS regclass)"
    )
    stopped = threading.Event()

    def poll(stage: progress.Stage) -> None:
        while not stopped.wait(every_s):
            with engine.connect() as conn:
                row = conn.execute(query, {"table": table}).first()
            if row is not None and (row.tuples_done or row.tuples_total):  # total: 0 until pgvector knows it
                stage.update(int(row.tuples_done), int(row.tuples_total) or None)

    with progress.stage(name) as stage:
        poller = threading.Thread(target=poll, args=(stage,), name="index-progress", daemon=True)
        poller.start()
        try:
            yield stage
        finally:
            stopped.set()
            poller.join()
        # built: every row is in, whatever the last poll saw (147,218 of 147,278 once)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        stage.update(int(rows), int(rows))


@dg.asset_check(
    asset=vector_index,
    blocking=True,
    description=f"HNSW recall@10 against exact search on {RECALL_QUERIES} test questions is at least "
    f"{RECALL_TARGET} at the servers' ef_search.",
)
def index_recall(workspace: dg.ResourceParam[Workspace]) -> dg.AssetCheckResult:
    """Recall@10 and latency of the index at `search.EF_SEARCH`; fails below RECALL_TARGET."""
    import numpy as np

    from aiprime.rag.embed import make_embedder
    from aiprime.rag.evaluate import evaluate_hnsw, sample_queries
    from aiprime.rag.search import EF_SEARCH

    settings = workspace.settings
    questions = sample_queries(workspace.root / "data" / "splits", RECALL_QUERIES, seed=0).question
    vectors = np.asarray(make_embedder(settings).embed(list(questions)), dtype=np.float32)  # (Q, 384)
    result = evaluate_hnsw(
        workspace.app_db(), vectors, collection=settings.rag_collection, ef_values=(EF_SEARCH,)
    )
    return recall_result(result, EF_SEARCH)


def recall_result(result: dict[str, float], ef_search: int) -> dg.AssetCheckResult:
    """Pass when `result`'s recall@10 at `ef_search` reaches RECALL_TARGET; the figures go to metadata."""
    recall = result[f"hnsw/ef{ef_search}/recall_at_10"]
    passed = recall >= RECALL_TARGET
    verdict = "meets" if passed else "is below"
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"recall@10 {recall:.4f} at ef_search {ef_search} {verdict} the target {RECALL_TARGET}"
        + ("" if passed else "; raise ef_search or rebuild with a larger m / ef_construction."),
        metadata={
            "recall_at_10": recall,
            "ef_search": ef_search,
            "vectors": int(result["hnsw/vectors"]),
            "queries": int(result["hnsw/queries"]),
            "p50_ms": result[f"hnsw/ef{ef_search}/p50_ms"],
            "p95_ms": result[f"hnsw/ef{ef_search}/p95_ms"],
        },
    )


class RerankerTraining(dg.Config):
    """How `reranker` fine-tunes the cross-encoder: sized to a few minutes on 2 CPU cores."""

    # Sense questions are the kind BM25 and fusion help least, so most groups go to them: on the full store 300
    # and 300 of each other kind gave sense 1.15x dense's test MRR@10, 900 and 100 (about as many groups) 1.36x.
    train_queries: int = Field(900, description="Train-split sense questions, one group each.")
    kind_queries: int = Field(100, description="Val-split queries of each other kind, targets not held out.")
    val_queries: int = Field(100, description="Held-out val queries per kind: epoch, blend and champion.")
    epochs: int = Field(1, description="Passes over the groups.")
    max_len: int = Field(64, description="Word pieces of a question-chunk pair.")
    retrain: bool = Field(False, description="Train even when nothing changed since the last run.")

    def train_config(self) -> Any:
        """The `RerankerTrainConfig` these settings describe."""
        from aiprime.rag.rerank_train import RerankerTrainConfig

        return RerankerTrainConfig(
            train_queries=self.train_queries,
            kind_queries=self.kind_queries,
            val_queries=self.val_queries,
            epochs=self.epochs,
        )


def reranker_key(workspace: Workspace, config: RerankerTraining, embedder_name: str) -> str:
    """A hash of what decides a trained re-ranker: its settings, the documents and questions, the embedding
    model and the retrieval code."""
    rag, splits = Path(__file__).resolve().parents[1] / "rag", workspace.root / "data" / "splits"
    data = [splits / name for name in ("documents.parquet", "queries.parquet")]
    code = [rag / f"{name}.py" for name in RERANKER_CODE]
    settings = json.dumps(config.model_dump(exclude={"retrain"}), sort_keys=True)
    described = (
        f"{settings}\x00{embedder_name}\x00{versioning.fingerprint(data)}\x00{versioning.fingerprint(code)}"
    )
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def champion_reranker(tracking_uri: str) -> str | None:
    """The version of `aiprime-reranker` that is champion, or None."""
    from aiprime.rag.rerank import ROLE
    from aiprime.registry import mlflow_registry as registry  # MLflow: imported on use

    return registry.version_for(tracking_uri, registry.registered_name(ROLE), registry.CHAMPION)


def kept_reranker(instance: dg.DagsterInstance, key: str, tracking_uri: str) -> dict[str, Any] | None:
    """The last `reranker` materialisation's metadata when it had `key` and its champion still is; else None."""
    event = instance.get_latest_materialization_event(dg.AssetKey("reranker"))
    if event is None or event.asset_materialization is None:
        return None
    last = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    if last.get("training_key") != key or last.get("champion_version") is None:
        return None
    return last if champion_reranker(tracking_uri) == last["champion_version"] else None


@dg.asset(group_name=RERANKING, deps=[vector_index], kinds={"pytorch", "mlflow"})
def reranker(
    context: dg.AssetExecutionContext, config: RerankerTraining, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The cross-encoder re-ranker, fine-tuned on every query kind with a per-kind blend chosen on val, and
    registered in MLflow (champion when it beats the champion on val)."""
    from aiprime.rag.embed import make_embedder

    settings = workspace.settings
    embedder = make_embedder(settings)
    key = reranker_key(workspace, config, embedder.name)
    kept = None if config.retrain else kept_reranker(context.instance, key, settings.mlflow_url)
    if kept is not None:
        context.log.info(f"nothing changed: aiprime-reranker v{kept['champion_version']} is kept")
        return dg.MaterializeResult(
            metadata=kept | {"kept": True}, data_version=dg.DataVersion(f"v{kept['champion_version']}")
        )
    with progress.stage("training the re-ranker"):
        figures = train_and_register(
            workspace, config, embedder, key, lineage_tags(workspace, context.run_id)
        )
    context.log.info(f"re-ranker: {figures}")
    return dg.MaterializeResult(
        metadata=figures | {"kept": False}, data_version=dg.DataVersion(f"v{figures['champion_version']}")
    )


def lineage_tags(workspace: Workspace, run_id: str) -> dict[str, str]:
    """What `aiprime lineage` follows from a re-ranker version: the DVC md5 of the questions it trained on,
    the code's git sha and the Dagster run that trained it."""
    from aiprime.moe.dataset import data_version
    from aiprime.training.kubeflow import code_version

    return {
        "data_version": data_version(workspace.root, "splits/queries.parquet"),
        "code_version": code_version(workspace.root),
        "dagster_run_id": run_id,
    }


def train_and_register(
    workspace: Workspace, config: RerankerTraining, embedder: Any, key: str, tags: dict[str, str]
) -> dict[str, Any]:
    """Train a re-ranker, register it and gate it; its figures, `training_key` and the champion's version."""
    from aiprime.rag.rerank import RerankerConfig
    from aiprime.rag.rerank_train import register_reranker, train_reranker

    settings, tracking_uri = workspace.settings, workspace.settings.mlflow_url
    train_config = config.train_config()
    with tempfile.TemporaryDirectory(prefix="aiprime-reranker-") as tmp:
        trained = train_reranker(
            workspace.app_db(),
            embedder,
            workspace.root / "data" / "splits",
            Path(tmp),
            train_config,
            RerankerConfig(max_len=config.max_len),
            collection=settings.rag_collection,
        )
        params = asdict(train_config) | {"max_len": config.max_len, "collection": settings.rag_collection}
        promotion = register_reranker(tracking_uri, trained, params, {"training_key": key} | tags)
    return {
        **{name: round(value, 4) for name, value in trained.metrics.items()},
        "blend": json.dumps(trained.reranker.blend, sort_keys=True),
        "training_key": key,
        "registered_version": promotion.challenger,
        "promoted": promotion.promoted,
        "champion_version": champion_reranker(tracking_uri),
    }


@dg.asset(group_name=RERANKING, deps=[dg.AssetKey("reranker")], kinds={"mlflow"})
def reranker_calibration(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """The champion re-ranker's abstention thresholds, one per query kind chosen on that kind's val queries,
    tagged on its MLflow version (kept when that version already carries them all)."""
    from aiprime.rag.rerank import load_reranker

    tracking_uri = workspace.settings.mlflow_url
    version = champion_reranker(tracking_uri)
    if version is None:
        return dg.MaterializeResult(metadata={"calibrated": "no champion re-ranker: nothing to calibrate"})
    model = load_reranker(tracking_uri)
    kept = model.calibrated_per_kind()
    figures = (
        {f"min_score_{kind}": t for kind, t in model.thresholds().items()}
        if kept
        else calibrate(workspace, model)
    )
    return dg.MaterializeResult(
        metadata={**figures, "reranker_version": version, "kept": kept},
        data_version=dg.DataVersion(calibration_version(version, figures)),
    )


def calibration_version(version: str, figures: dict[str, Any]) -> str:
    """The calibration's data version: the re-ranker's version and each kind's threshold."""
    return f"v{version}-" + "-".join(f"{figures[f'min_score_{kind}']:.6g}" for kind in KINDS)


def calibrate(workspace: Workspace, model: Any) -> dict[str, float]:
    """Choose a threshold per query kind on CALIBRATION_QUESTIONS val queries of each and tag them on the
    champion's version."""
    from aiprime.rag import answer_eval
    from aiprime.rag.embed import make_embedder
    from aiprime.rag.rerank import rerank, save_calibration, threshold_figures

    settings = workspace.settings
    with progress.stage(f"calibrating the re-ranker ({len(KINDS)} query kinds)"):
        thresholds, figures = answer_eval.calibrate_kinds(
            workspace.app_db(), make_embedder(settings), workspace.root / "data" / "splits",
            CALIBRATION_QUESTIONS, rerank=lambda q, hits, top_n: rerank(q, hits, model, top_n),
            collection=settings.rag_collection,
        )  # fmt: skip
    save_calibration(settings.mlflow_url, threshold_figures(thresholds) | figures)
    chosen = {f"min_score_{kind}": t for kind, t in thresholds.items()}
    return chosen | {k.replace("/", "_"): v for k, v in figures.items()}
