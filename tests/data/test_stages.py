from __future__ import annotations

import json

import pytest

from aiprime.data.atomic import read_parquet, write_bytes
from aiprime.data.stages import stage_processed, stage_raw, stage_splits
from aiprime.errors import DataSourceMissing
from aiprime.settings import Settings


def _run_all(debian_sources, root):
    stage_raw(debian_sources, root / "raw", limit=50)
    stage_processed(root / "raw", root / "processed")
    stage_splits(root / "processed", root / "splits")
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def two_runs(debian_sources, tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    first = _run_all(debian_sources, root / "first")
    second = _run_all(debian_sources, root / "second")
    return root / "first", first, second


def test_stages_twice_give_identical_bytes(two_runs):
    _, first, second = two_runs

    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert not [name for name in first if "/." in name]  # no temporaries left behind


def test_limit_keeps_a_small_real_subset(two_runs):
    root, files, _ = two_runs
    stats = json.loads(files["splits/stats.json"])

    assert len(read_parquet(root / "processed" / "synsets.parquet")) == 4 * 50
    assert len(read_parquet(root / "processed" / "foldoc.parquet")) == 50
    assert len([name for name in files if name.startswith("raw/pydocs/")]) == 50
    assert stats["classification"]["rows"] == 200
    assert sum(stats["classification"]["by_split"].values()) == 200
    assert stats["documents"]["by_source"]["wordnet"] == 200
    assert stats["queries"]["rows"] == sum(stats["queries"]["by_split"].values()) > 0


def test_split_tables_are_sorted_and_consistent(two_runs):
    root, _, _ = two_runs
    classification = read_parquet(root / "splits" / "classification.parquet")
    queries = read_parquet(root / "splits" / "queries.parquet")
    documents = read_parquet(root / "splits" / "documents.parquet")

    assert classification.synset_id.is_monotonic_increasing
    assert documents.doc_id.is_unique and documents.doc_id.is_monotonic_increasing
    assert set(queries.synset_id) <= set(classification.synset_id)
    assert queries.text.str.contains("___", regex=False).all()
    splits_by_synset = dict(zip(classification.synset_id, classification.split, strict=True))
    assert (queries.synset_id.map(splits_by_synset) == queries.split).all()


def test_raw_stage_lists_every_missing_package(tmp_path):
    debian_sources = Settings(
        wordnet_dir=tmp_path / "wn", foldoc_dict=tmp_path / "foldoc.dict.dz", python_docs_dir=tmp_path / "py"
    )

    with pytest.raises(DataSourceMissing) as caught:
        stage_raw(debian_sources, tmp_path / "raw")

    assert "apt-get install wordnet-base dict-foldoc python3.11-doc" in str(caught.value)
    assert not (tmp_path / "raw").exists()


def test_processed_stage_without_raw_says_which_stage_to_run(tmp_path):
    with pytest.raises(DataSourceMissing, match="aiprime data stage raw"):
        stage_processed(tmp_path / "raw", tmp_path / "processed")


def test_failed_write_keeps_the_previous_output(tmp_path):
    target = tmp_path / "stats.json"
    write_bytes(target, b"good")

    with pytest.raises(TypeError):
        write_bytes(target, "not bytes")  # type: ignore[arg-type]

    assert target.read_bytes() == b"good"
    assert [path.name for path in tmp_path.iterdir()] == ["stats.json"]
