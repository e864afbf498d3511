"""Retrieval assets: the documents' embeddings in pgvector, the HNSW index over them, and its recall check.

`document_embeddings` chunks and embeds `documents.parquet` into the collection `settings.rag_collection`,
writing only documents whose content hash changed (`aiprime.rag.ingest`). Its data version names the
documents' DVC md5 and the embedding model, so Dagster marks it stale exactly when either changes.
`vector_index` builds the cosine HNSW index with the configured m and ef_construction (kept when one with
those parameters exists; pgvector maintains it as rows change). The check `index_recall` compares the
index's top 10 with exact search on test-split questions at the ef_search the servers use.
"""

import hashlib
from dataclasses import asdict
from pathlib import Path

import dagster as dg
from pydantic import Field

from aiprime import versioning
from aiprime.observability import progress
from aiprime.orchestration.resources import Workspace
from aiprime.rag import store

GROUP = "retrieval"
RECALL_TARGET = 0.95  # the bar for HNSW recall@10 against exact search
RECALL_QUERIES = 200  # test-split questions the check embeds (about 3 s of MiniLM here)
PROGRESS_EVERY = 20  # log one line per this many batches


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
    """The `document_embeddings` asset with `code_version` (see `embedding_code_version`)."""

    @dg.asset(
        group_name=GROUP,
        deps=[dg.AssetKey("documents"), dg.AssetKey("classification")],
        kinds={"pgvector", "postgres"},
        code_version=code_version,
    )
    def document_embeddings(
        context: dg.AssetExecutionContext, workspace: dg.ResourceParam[Workspace]
    ) -> dg.MaterializeResult:
        """Every document chunked and embedded (all-MiniLM-L6-v2, fp32 or int8 by AIPRIME_RAG_EMBEDDER) into
        pgvector; only what changed is written."""
        from aiprime.rag.corpus import data_version, load_corpus
        from aiprime.rag.embed import make_embedder
        from aiprime.rag.ingest import ingest

        settings, splits = workspace.settings, workspace.root / "data" / "splits"
        embedder, version = make_embedder(settings), data_version(splits)

        embedding = progress.stage("embedding changed documents")

        def on_batch(done: int, total: int) -> None:
            embedding.update(done, total)
            if done == total or done // 256 % PROGRESS_EVERY == 0:
                context.log.info(f"embedded {done:,} of {total:,} changed documents")

        with embedding:
            report = ingest(
                workspace.app_db(),
                load_corpus(splits),
                embedder,
                collection=settings.rag_collection,
                data_version=version,
                on_batch=on_batch,
            )
        fingerprint = hashlib.sha256(f"{version}\x00{embedder.name}".encode()).hexdigest()[:16]
        return dg.MaterializeResult(
            metadata={
                **asdict(report),
                "collection": settings.rag_collection,
                "embedding_model": embedder.name,
                "documents_md5": version or "unknown",
            },
            data_version=dg.DataVersion(fingerprint),
        )

    return document_embeddings


@dg.asset(group_name=GROUP, deps=[dg.AssetKey("document_embeddings")], kinds={"pgvector"})
def vector_index(config: IndexConfig, workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """The cosine HNSW index of the chunk embeddings (rebuilt only when its parameters change)."""
    from aiprime.rag.evaluate import uses_hnsw

    params = store.HnswParams(config.m, config.ef_construction)
    engine = workspace.app_db()
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
