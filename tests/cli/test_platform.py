"""What `aiprime run` reads back from a Dagster run: the training summary, when training ran here."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from aiprime.cli.platform import training_summary


def materialised(metadata: dict) -> dg.ExecuteInProcessResult:
    @dg.asset(name="moe_models")
    def moe_models() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=metadata)

    return dg.materialize([moe_models])


def test_the_summary_of_a_local_run_is_read_and_a_submitted_run_has_none(tmp_path: Path) -> None:
    summary = tmp_path / "train.json"
    summary.write_text(json.dumps({"mlflow_run_id": "abc", "promotions": []}))
    assert (
        training_summary(materialised({"summary": dg.MetadataValue.path(str(summary))}))["mlflow_run_id"]
        == "abc"
    )
    assert training_summary(materialised({"kfp_run_id": "run-1", "kfp_host": "http://kfp"})) is None


def sample_table(sample: dict, width: int = 300) -> str:
    """The summary's sample table for one answer, as the console prints it."""
    from rich.console import Console

    from aiprime.cli.platform import answers_table

    console = Console(width=width)
    with console.capture() as captured:
        console.print(answers_table([sample], "rag.yaml", {"aiprime-gate": "2"}))
    return captured.get()


def test_the_sample_table_shows_answers_with_their_bracketed_citations() -> None:
    sample = {"text": "the ___ of the river", "route": {"living": 0.8}, "answered_by": ["living"],
              "label": "noun.object", "score": 0.9, "reply": "Sloping land [wn:n09213565].",
              "citations": ["wn:n09213565"]}  # fmt: skip
    assert "Sloping land [wn:n09213565]. [wn:n09213565]" in sample_table(sample)


def test_the_sample_table_says_how_each_answer_was_made() -> None:
    sample = {"text": "a small dog that barks", "route": {"living": 0.8}, "answered_by": ["living"],
              "label": "noun.animal", "score": 0.9, "reply": "From WordNet [wn:n02084071]: dog: a canine",
              "citations": ["wn:n02084071"], "mode": "extractive"}  # fmt: skip
    printed = sample_table(sample)

    assert "answer (mode) [citations]" in printed
    assert "(extractive) From WordNet [wn:n02084071]: dog: a canine [wn:n02084071]" in printed


def test_the_sample_table_shortens_a_long_quoted_passage_and_keeps_its_citation() -> None:
    from aiprime.cli.platform import REPLY_CHARS

    section = "From the Python docs [pydoc:library/sqlite3#x]: " + "sqlite3.connect(database)\n   " * 60
    sample = {"text": "sqlite3.connect", "route": {"artifacts": 0.6}, "answered_by": ["artifacts"],
              "label": "noun.artifact", "score": 0.7, "reply": section, "citations": ["pydoc:library/sqlite3#x"],
              "mode": "extractive"}  # fmt: skip
    cell = next(line for line in sample_table(sample, width=1000).splitlines() if "(extractive)" in line)
    assert "connect(database) ... [pydoc:library/sqlite3#x]" in cell
    assert cell.count("sqlite3.connect(database)") < 60 and len(section) > REPLY_CHARS


def test_the_summary_says_when_the_first_answer_came_and_what_was_still_filling_in() -> None:
    from aiprime.cli.platform import first_answer_line

    early = {"answered_at": 1_000_725.0, "chunks_served": 117_659, "stack": "started on what was ready",
             "answer": {"text": "a small dog that barks", "label": "noun.animal", "mode": "extractive"},
             "still_filling": ["FOLDOC and Python docs in the store", "the re-ranker"]}  # fmt: skip
    line = first_answer_line(early, started=1_000_000.0)

    assert "12 min 05 s after `aiprime run` started" in line
    assert "'a small dog that barks' -> noun.animal (extractive)" in line and "117,659 chunks" in line
    assert "Still filling in while it served: FOLDOC and Python docs in the store, the re-ranker" in line
    kept = first_answer_line(early | {"still_filling": [], "stack": "kept from the last run"}, 1_000_700.0)
    assert "25.0 s after" in kept and "kept from the last run" in kept and "Still filling" not in kept
