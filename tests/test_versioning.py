"""The DVC pipeline for real, on a tiny subset of the Debian sources: same inputs, same hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from aiprime import versioning
from aiprime.db.engine import connect
from aiprime.errors import ConfigError, NotFound, StageFailed


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, subset_checkout) -> tuple[Path, Path]:
    """Two independent checkouts of a 40-entry subset, each reproduced once."""
    roots = []
    for name in ("first", "second"):
        root = subset_checkout(tmp_path_factory.mktemp(name), limit=40)
        versioning.reproduce(root)
        roots.append(root)
    return roots[0], roots[1]


@pytest.mark.slow
def test_dvc_repro_twice_gives_the_same_hashes(reproduced) -> None:
    first, second = (versioning.read_versions(root) for root in reproduced)
    assert {v.name for v in first} == {
        "synsets",
        "foldoc",
        "pydocs",
        "classification",
        "queries",
        "documents",
    }
    assert [(v.name, v.dvc_md5, v.rows) for v in first] == [(v.name, v.dvc_md5, v.rows) for v in second]
    assert all(v.rows > 0 for v in first)


@pytest.mark.slow
def test_an_unchanged_repro_reruns_nothing_and_push_fills_the_remote(reproduced) -> None:
    root = reproduced[0]
    before = (root / "data" / "dvc.lock").read_text()
    output = versioning.dvc(root, "repro", "data/dvc.yaml")
    assert "didn't change, skipping" in output and "Running stage 'processed'" not in output
    assert (root / "data" / "dvc.lock").read_text() == before
    versioning.push(root)
    assert any((root / "remote").rglob("*"))


@pytest.mark.slow
def test_versions_are_recorded_once_in_postgres(reproduced, app_db_url) -> None:
    engine = connect(app_db_url)
    versions = versioning.read_versions(reproduced[0])
    assert versioning.record_versions(engine, versions) == len(versions)
    assert versioning.record_versions(engine, versions) == 0
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT name, dvc_md5, rows FROM dataset_versions")).all()
    assert {(v.name, v.dvc_md5, v.rows) for v in versions} <= set(stored)


def test_a_bad_limit_names_the_file_and_the_rule(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "params.yaml").write_text("limit: -3\n")
    with pytest.raises(ConfigError, match="data/params.yaml: `limit` must be an integer >= 0"):
        versioning.load_params(tmp_path)


def test_versions_before_any_ingest_say_what_to_run(tmp_path) -> None:
    with pytest.raises(NotFound, match="aiprime data ingest"):
        versioning.read_versions(tmp_path)


def test_a_missing_source_stops_the_raw_stage_with_the_apt_command(
    tmp_path, monkeypatch, subset_checkout
) -> None:
    root = subset_checkout(tmp_path / "repo", limit=5)
    monkeypatch.setenv("AIPRIME_WORDNET_DIR", str(tmp_path / "absent"))
    with pytest.raises(StageFailed, match="apt-get install wordnet-base") as info:
        versioning.reproduce(root)
    assert "Traceback" not in str(info.value)
    assert not (root / "data" / "dvc.lock").exists()
