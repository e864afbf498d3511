"""`aiprime rag`: help, one-line errors, and ingest then search end to end."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from aiprime.cli import app
from aiprime.cli import rag as rag_cli

runner = CliRunner()


@pytest.fixture
def env(pg_server_url: str, tmp_path, monkeypatch) -> None:
    """Point the command at the session's PostgreSQL and keep its caches in tmp_path."""
    monkeypatch.setenv("AIPRIME_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize(
    "args", [["rag"], ["rag", "ingest"], ["rag", "search"], ["rag", "eval"], ["rag", "calibrate"]]
)
def test_every_rag_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_an_empty_query_is_one_line_with_the_fix(env) -> None:
    result = runner.invoke(app, ["rag", "search", "  "])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "error: The query is empty. Pass some words" in result.output


@pytest.fixture
def short_splits(tiny_splits: Path, tmp_path: Path) -> Path:
    """A splits folder with 10 WordNet and 2 FOLDOC documents of the tiny corpus."""
    docs = pd.read_parquet(tiny_splits / "documents.parquet")
    docs = pd.concat([docs[docs.source == "wordnet"].head(10), docs[docs.source == "foldoc"].head(2)])
    (tmp_path / "splits").mkdir()
    docs.to_parquet(tmp_path / "splits" / "documents.parquet")
    shutil.copy(tiny_splits / "classification.parquet", tmp_path / "splits" / "classification.parquet")
    return tmp_path / "splits"


def test_ingest_then_search_print_their_tables(env, short_splits: Path, embedder, monkeypatch) -> None:
    monkeypatch.setattr(
        rag_cli, "make_embedder", lambda settings: embedder
    )  # the model takes minutes to import
    collection = f"test-cli-{uuid.uuid4().hex[:8]}"
    ingest_args = ["rag", "ingest", "--splits", str(short_splits), "--collection", collection]

    ingested = runner.invoke(app, ingest_args)
    again = runner.invoke(app, ingest_args)
    found = runner.invoke(
        app,
        [
            "rag",
            "search",
            "able to do something",
            "--k",
            "3",
            "--collection",
            collection,
            "--source",
            "wordnet",
        ],
    )

    assert ingested.exit_code == 0, ingested.output
    assert re.search(r"inserted\s+│\s+12\b", ingested.output), ingested.output
    assert re.search(r"unchanged\s+│\s+12\b", again.output), again.output
    assert found.exit_code == 0, found.output
    assert len(re.findall(r"│\s+wn:[anrv]\d{8}\s+│\s+wordnet", found.output)) == 3, found.output


@pytest.fixture
def ingested(env, pg_server_url, tiny_splits, embedder, monkeypatch) -> str:
    """A fresh collection of the tiny corpus, ingested with `aiprime rag ingest` (hashed bag-of-words)."""
    monkeypatch.setattr(rag_cli, "make_embedder", lambda settings: embedder)
    collection = f"test-cli-{uuid.uuid4().hex[:8]}"
    result = runner.invoke(app, ["rag", "ingest", "--splits", str(tiny_splits), "--collection", collection])
    assert result.exit_code == 0, result.output
    return collection


def test_eval_prints_the_quality_and_hnsw_tables(ingested: str, tiny_splits) -> None:
    collection = ingested
    result = runner.invoke(
        app,
        [
            "rag",
            "eval",
            "--splits",
            str(tiny_splits),
            "--queries",
            "20",
            "--collection",
            collection,
            "--reranker",
            "none",
        ],  # never a champion of whatever MLflow happens to run on this machine
    )

    assert result.exit_code == 0, result.output
    assert re.search(r"│ hybrid\s+│\s+[01]\.\d{4} │", result.output), result.output
    assert len(re.findall(r"│\s+(20|40|64|100) │\s+[01]\.\d{4} │", result.output)) == 4, result.output


def test_eval_with_answers_prints_how_grounded_the_generators_answers_are(ingested: str, tiny_splits) -> None:
    result = runner.invoke(
        app,
        [
            "rag",
            "eval",
            "--splits",
            str(tiny_splits),
            "--queries",
            "5",
            "--collection",
            ingested,
            "--reranker",
            "none",
            "--answers",
            "3",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "Grounded answers (3 test sense questions)" in result.output
    assert re.search(r"Grounded answers \(\d test definition\s+questions\)", result.output), result.output
    assert re.search(r"Grounded answers \(\d test keyword questions\)", result.output), result.output
    for figure in ("calibration/min_score", "answers/abstained", "answers/grounded", "answers/seconds_p50"):
        assert re.search(rf"│ {figure}\s+│\s+\d+\.\d{{4}} │", result.output), result.output


def test_eval_of_extractive_answers_counts_unsupported_ones_and_draws_the_curve(
    ingested: str, tiny_splits
) -> None:
    args = ["rag", "eval", "--splits", str(tiny_splits), "--queries", "5", "--collection", ingested]
    result = runner.invoke(app, [*args, "--reranker", "none", "--answers", "4", "--generator", "extractive"])

    assert result.exit_code == 0, result.output
    assert len(re.findall(r"│ answers/shown_unsupported\s+│\s+0\.0000 │", result.output)) == 4, result.output
    assert re.search(r"│ answers/generated\s+│\s+0\.0000 │", result.output), result.output
    assert "Precision vs coverage" in result.output
    assert re.search(r"│\s+[01]\.\d\d │\s+-?\d+\.\d{4} │\s+[01]\.\d{4} │", result.output), result.output


def test_eval_answers_only_the_kinds_asked_and_names_the_known_ones(ingested: str, tiny_splits) -> None:
    args = ["rag", "eval", "--splits", str(tiny_splits), "--queries", "5", "--collection", ingested]
    extractive = ["--reranker", "none", "--answers", "2", "--generator", "extractive"]
    result = runner.invoke(app, [*args, *extractive, "--kinds", "code"])

    assert result.exit_code == 0, result.output
    assert re.search(r"Grounded answers \(\d test code questions\)", result.output), result.output
    assert "sense questions" not in result.output and "keyword questions" not in result.output
    refused = runner.invoke(app, [*args, *extractive, "--kinds", "sense,riddle"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "name some of sense, definition, keyword, code" in refused.output


def test_calibrate_stores_min_score_with_a_reranker_folder(ingested: str, tiny_splits, tmp_path) -> None:
    from aiprime.rag.rerank import load_reranker, new_reranker, save_reranker

    folder = save_reranker(new_reranker(), tmp_path / "reranker")  # untrained, but a real model
    result = runner.invoke(
        app,
        [
            "rag",
            "calibrate",
            "--splits",
            str(tiny_splits),
            "--questions",
            "6",
            "--collection",
            ingested,
            "--reranker",
            str(folder),
        ],
    )

    assert result.exit_code == 0, result.output
    stored = load_reranker(folder)
    assert stored.calibrated_per_kind() and (folder / "calibration.json").is_file()
    assert f"min_score per kind (sense {stored.min_score:.4f}, definition" in " ".join(result.output.split())


def test_calibrate_without_a_reranker_is_one_line_with_the_fix(env) -> None:
    result = runner.invoke(app, ["rag", "calibrate", "--reranker", "none"])

    assert result.exit_code == 1
    assert "train one with `aiprime rag train-reranker`" in result.output.replace("\n", " ")


def test_the_generator_option_names_extractive_a_gguf_or_the_model(tmp_path) -> None:
    from aiprime.cli.rag import drafting_model
    from aiprime.errors import InvalidInput, NotFound
    from aiprime.settings import Settings

    settings = Settings(_env_file=None)
    assert drafting_model(settings, "extractive") is None
    with pytest.raises(NotFound, match="no such file"):
        drafting_model(settings, str(tmp_path / "absent.gguf"))
    with pytest.raises(InvalidInput, match="`model`, `extractive` or a .gguf file"):
        drafting_model(settings, "gpt-5")
