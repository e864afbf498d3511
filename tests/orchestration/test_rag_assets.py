"""Retrieval assets for real: a subset checkout's documents embedded into pgvector, indexed and checked."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from aiprime.orchestration.rag_assets import RECALL_TARGET, recall_result
from aiprime.orchestration.runner import materialize_everything
from aiprime.rag import store
from aiprime.services import stack
from aiprime.settings import Settings


@pytest.fixture(scope="module")
def materialised(tmp_path_factory, subset_checkout, pg_server_url):
    """A 30-entry checkout whose data and retrieval assets were materialised once, in a collection of its own.

    The HNSW index spans every collection of the shared database, so it is dropped first: `vector_index`
    must build it, whichever tests ran before."""
    root = subset_checkout(tmp_path_factory.mktemp("repo"), limit=30)
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=pg_server_url,
        rag_collection=f"dagster-{uuid.uuid4().hex[:8]}",
        _env_file=None,
    )
    with stack.ready_app_db(settings).begin() as conn:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {store.HNSW_INDEX}"))
    return root, settings, materialize_everything(settings, root, groups=("data", "retrieval"))


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict:
    [materialisation] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in materialisation.metadata.items()}


@pytest.mark.slow
def test_every_document_is_embedded_indexed_and_the_index_recalls_exact_search(materialised) -> None:
    root, settings, result = materialised
    documents = pd.read_parquet(root / "data" / "splits" / "documents.parquet")
    wordnet = int((documents.source == "wordnet").sum())
    early, embeddings = _metadata(result, "wordnet_embeddings"), _metadata(result, "document_embeddings")
    assert early["inserted"] == wordnet and early["deleted"] == 0  # WordNet first, the rest left alone
    assert embeddings["inserted"] == len(documents) - wordnet and embeddings["unchanged"] == wordnet
    assert embeddings["collection"] == early["collection"] == settings.rag_collection
    assert _metadata(result, "vector_index")["build"].startswith("built in")
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "index_recall"]
    assert check.passed, check.description
    assert check.metadata["recall_at_10"].value >= RECALL_TARGET and check.metadata["queries"].value > 0


@pytest.mark.slow
def test_a_rerun_with_nothing_changed_writes_nothing_and_keeps_the_index(materialised) -> None:
    root, settings, _ = materialised
    again = materialize_everything(settings, root, groups=("retrieval",))
    for node in ("wordnet_embeddings", "document_embeddings"):
        embeddings = _metadata(again, node)
        assert embeddings["inserted"] == embeddings["replaced"] == embeddings["chunks_written"] == 0
        assert embeddings["unchanged"] > 0
    assert _metadata(again, "vector_index")["build"] == "kept (same parameters)"


def test_the_recall_check_fails_below_the_target_and_says_what_to_change() -> None:
    figures = {
        "hnsw/vectors": 1000.0,
        "hnsw/queries": 200.0,
        "hnsw/ef40/p50_ms": 1.0,
        "hnsw/ef40/p95_ms": 2.0,
    }
    low = recall_result(figures | {"hnsw/ef40/recall_at_10": 0.9}, 40)
    assert not low.passed and low.severity == dg.AssetCheckSeverity.ERROR
    assert "raise ef_search" in low.description
    assert recall_result(figures | {"hnsw/ef40/recall_at_10": RECALL_TARGET}, 40).passed


TINY_RERANKER = {
    "ops": {"reranker": {"config": {"train_queries": 16, "kind_queries": 8, "val_queries": 8, "max_len": 32}}}
}


@pytest.mark.slow
def test_the_reranker_is_trained_registered_calibrated_then_kept_when_nothing_changed(
    materialised, mlflow_url
) -> None:
    from aiprime.rag.rerank import load_reranker

    root, settings, _ = materialised
    settings = settings.model_copy(update={"mlflow_tracking_uri": mlflow_url})

    first = materialize_everything(settings, root, groups=("reranking",), run_config=TINY_RERANKER)
    again = materialize_everything(settings, root, groups=("reranking",), run_config=TINY_RERANKER)

    trained, calibrated = _metadata(first, "reranker"), _metadata(first, "reranker_calibration")
    assert trained["kept"] is False and trained["champion_version"] is not None
    assert set(json.loads(trained["blend"])) >= {"sense"}
    assert 0.0 <= trained["val/blended_mrr"] <= 1.0
    champion = load_reranker(mlflow_url)
    thresholds = champion.thresholds()
    assert champion.calibrated_per_kind() and set(thresholds) == {"sense", "definition", "keyword", "code"}
    for kind, threshold in thresholds.items():
        assert threshold == pytest.approx(calibrated[f"min_score_{kind}"], rel=1e-5)
    assert champion.blend == json.loads(trained["blend"])
    kept = _metadata(again, "reranker")
    assert kept["kept"] is True and kept["champion_version"] == trained["champion_version"]
    assert _metadata(again, "reranker_calibration")["kept"] is True
    _assert_lineage_tags(mlflow_url, root, trained["champion_version"], first.run_id)


def _assert_lineage_tags(mlflow_url: str, root, version: str, run_id: str) -> None:
    """The version names what `aiprime lineage` follows: its questions' DVC md5, the code, the Dagster run."""
    from mlflow import MlflowClient

    from aiprime.moe.dataset import data_version

    tags = MlflowClient(mlflow_url).get_model_version("aiprime-reranker", version).tags
    assert tags["data_version"] == data_version(root, "splits/queries.parquet")
    assert tags["dagster_run_id"] == run_id and tags["code_version"]


class Recorder:
    """A progress reporter that keeps each (done, total) a stage reported."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, int | None]] = []

    def started(self, stage) -> None:
        pass

    def advanced(self, stage) -> None:
        self.updates.append((stage.done, stage.total))

    def finished(self, stage) -> None:
        pass


@pytest.mark.slow
def test_an_index_build_reports_the_tuples_loaded_of_the_total(app_db_url) -> None:
    from aiprime.observability import progress
    from aiprime.orchestration.rag_assets import index_build_progress

    table, rows = f"probe_{uuid.uuid4().hex[:8]}", 20_000
    engine = sa.create_engine(app_db_url)
    random_vector = "(SELECT array_agg(random()) FROM generate_series(1, 384) WHERE i > 0)::vector"  # per row
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id int, embedding vector(384))"))
        conn.execute(
            sa.text(f"INSERT INTO {table} SELECT i, {random_vector} FROM generate_series(1, {rows}) i")
        )
        conn.execute(sa.text(f"ANALYZE {table}"))  # the row count pgvector reports as the total
    recorder = Recorder()
    try:
        building = index_build_progress(engine, "index", table, every_s=0.05)
        with progress.reporting_to(recorder), building, engine.begin() as conn:
            conn.execute(sa.text(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)"))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
    assert recorder.updates and {total for _, total in recorder.updates} <= {rows, None}
    assert max(done for done, _ in recorder.updates) > 0 and all(done <= rows for done, _ in recorder.updates)
    assert recorder.updates[-1] == (rows, rows)  # built: all of them, whatever the last poll saw
