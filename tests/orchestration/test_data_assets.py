"""Dagster data assets for real: a subset checkout materialised in-process on a PostgreSQL-backed instance."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from aiprime.errors import StageFailed
from aiprime.orchestration.data_checks import classification_labels
from aiprime.orchestration.definitions import build_definitions
from aiprime.orchestration.resources import Workspace
from aiprime.orchestration.runner import materialize_everything
from aiprime.settings import Settings

GROUPS = ("data", "features")


@pytest.fixture(scope="module")
def materialised(tmp_path_factory, subset_checkout, pg_server_url):
    """A 30-entry checkout whose data and feature assets were materialised once, its settings and the result.

    The model asset (a training run) has its own test, tests/orchestration/test_model_assets.py.
    """
    root = subset_checkout(tmp_path_factory.mktemp("repo"), limit=30)
    settings = Settings(home=tmp_path_factory.mktemp("home"), database_url=pg_server_url, _env_file=None)
    return root, settings, materialize_everything(settings, root, groups=GROUPS)


def test_definitions_load_with_every_asset_and_check(tmp_path) -> None:
    defs = build_definitions(Settings(home=tmp_path, _env_file=None), tmp_path)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "debian_sources",
        "raw_data",
        "synsets",
        "classification",
        "documents",
        "dataset_versions",
        "feature_store",
        "document_features",
        "document_embeddings",
        "vector_index",
        "moe_models",
    } <= keys
    assert defs.resolve_job_def("everything")


@pytest.mark.slow
def test_materialisation_records_dvc_hashes_as_data_versions(materialised) -> None:
    root, _, result = materialised
    assert result.success
    events = {
        m.asset_key.to_user_string(): m
        for m in (
            event.event_specific_data.materialization for event in result.get_asset_materialization_events()
        )
    }
    classification = events["classification"]
    lock_md5 = classification.metadata["dvc_md5"].value
    assert classification.tags["dagster/data_version"] == lock_md5
    assert classification.metadata["rows"].value == len(
        pd.read_parquet(root / "data/splits/classification.parquet")
    )
    assert (
        events["document_features"].metadata["documents"].value == events["documents"].metadata["rows"].value
    )
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert {c.check_name for c in checks} == {
        "classification_schema",
        "classification_labels",
        "queries_have_documents",
    }
    assert all(c.passed for c in checks)


@pytest.mark.slow
def test_runs_are_kept_in_the_instance_the_ui_reads(materialised) -> None:
    _, settings, result = materialised
    instance = dg.DagsterInstance.from_config(str(settings.home / "dagster"))
    assert instance.get_run_by_id(result.run_id).is_success
    record = instance.get_latest_materialization_event(dg.AssetKey("queries"))
    assert record is not None and record.run_id == result.run_id


@pytest.mark.slow
def test_a_damaged_table_fails_its_check_and_a_rerun_restores_it(materialised) -> None:
    root, settings, _ = materialised
    path = root / "data" / "splits" / "classification.parquet"
    original = path.read_bytes()
    pd.read_parquet(path).assign(domain="living").to_parquet(path)
    outcome = classification_labels(workspace=Workspace(root, settings))
    assert not outcome.passed and "disagrees with domains.csv" in outcome.description
    materialize_everything(settings, root, groups=GROUPS)  # DVC sees the changed output and rebuilds it
    assert path.read_bytes() == original


@pytest.mark.slow
def test_a_failed_step_is_one_error_naming_the_step(materialised, monkeypatch, tmp_path) -> None:
    root, settings, _ = materialised
    monkeypatch.setenv("AIPRIME_WORDNET_DIR", str(tmp_path / "absent"))
    with pytest.raises(StageFailed, match="Dagster step 'raw_data' failed: .*apt-get install wordnet-base"):
        materialize_everything(settings, root, groups=GROUPS)


@pytest.mark.slow
def test_each_materialisation_is_sent_as_openlineage_events_once(materialised) -> None:
    import json

    from _helpers.openlineage_schema import errors

    from aiprime.provenance.openlineage import events_file

    _, settings, result = materialised
    sent = [json.loads(line) for line in events_file(settings).read_text().splitlines()]
    assert [e for e in sent if errors(e)] == []
    events = [
        e for e in sent if e["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
    ]  # later tests run more
    completed = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    materialisations = {
        m.asset_key.to_user_string(): m
        for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
    }
    materialised_keys = set(materialisations)
    assert completed.keys() == materialised_keys
    assert len(events) == 2 * len(materialised_keys)  # a START and a COMPLETE each, nothing twice
    assert {d["name"] for d in completed["classification"]["inputs"]} == {"synsets", "foldoc", "pydocs"}
    version = completed["classification"]["outputs"][0]["facets"]["version"]["datasetVersion"]
    assert version == materialisations["classification"].metadata["dvc_md5"].value
