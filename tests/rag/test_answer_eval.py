"""Grounded answers end to end on the tiny corpus: retrieval as the server does it, generation, the check
before showing, the re-check of what was shown, and the support threshold's labelled examples."""

from __future__ import annotations

import uuid

import pytest

from aiprime.rag.answer_eval import (
    answer_figures,
    calibrate,
    calibrate_support,
    evaluate_answers,
    retrieve,
    support_examples,
)
from aiprime.rag.evaluate import sample_queries
from aiprime.rag.generate import answer
from aiprime.rag.grounding import MIN_OVERLAP, is_echo, support
from aiprime.rag.ingest import ingest
from aiprime.serving.generator import GeneratorRecord, answer_record
from aiprime.serving.samples import SAMPLE_QUERIES


class QuotingGenerator:
    """Answers with the prompt's first source line, its id cited: grounded by construction."""

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        sources = messages[-1]["content"].split("\n")
        return next(line for line in sources if line.startswith("- "))[2:]


class EchoGenerator:
    """Cites the first source and repeats the question: "Here a small dog that barks." (issue 24)."""

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        last = messages[-1]["content"]
        first_id = last.split("\n")[1].rsplit("[", 1)[1].rstrip("]")
        return f"[{first_id}] Here {last.rsplit('Question: ', 1)[1]}"


class InventingGenerator:
    """Cites the first source and says what no source says."""

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        first_id = messages[-1]["content"].split("\n")[1].rsplit("[", 1)[1].rstrip("]")
        return f"[{first_id}] A member of the genus Canis that has been domesticated by man."


class BlankGenerator:
    """Answers without citing anything: never grounded."""

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        return "It is something people say."


@pytest.fixture(scope="module")
def indexed(engine, tiny_corpus, embedder) -> str:
    collection = f"test-answers-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus, embedder, collection=collection)
    return collection


@pytest.fixture(scope="module")
def questions(tiny_splits):
    return sample_queries(tiny_splits, 12, seed=0)


def test_a_generator_quoting_its_first_source_is_grounded_every_time(
    engine, embedder, indexed, questions
) -> None:
    figures = evaluate_answers(engine, embedder, questions, QuotingGenerator(), collection=indexed)
    assert figures["answers/questions"] == len(questions) and figures["answers/abstained"] == 0.0
    assert figures["answers/cited"] == figures["answers/grounded"] == 1.0
    assert figures["answers/overlap"] > 0.5 and figures["answers/shown_unsupported"] == 0.0
    assert figures["answers/generated"] + figures["answers/extractive"] == figures["answers/coverage"] == 1.0


@pytest.mark.parametrize("drafts", [BlankGenerator(), EchoGenerator(), InventingGenerator()])
def test_no_ungrounded_draft_is_ever_shown(engine, embedder, indexed, questions, drafts) -> None:
    figures = evaluate_answers(engine, embedder, questions, drafts, collection=indexed)
    assert figures["answers/generated"] == 0.0 and figures["answers/shown_unsupported"] == 0.0
    assert figures["answers/grounded"] == 1.0 and figures["answers/extractive"] > 0.5


def test_extractive_only_answers_match_the_checked_fallback(engine, embedder, indexed, questions) -> None:
    quoted = evaluate_answers(engine, embedder, questions, None, collection=indexed)
    fallback = evaluate_answers(engine, embedder, questions, BlankGenerator(), collection=indexed)
    assert quoted["answers/extractive"] == fallback["answers/extractive"] > 0.5
    assert quoted["answers/cites_relevant"] == fallback["answers/cites_relevant"]
    assert quoted["answers/seconds_p50"] < 1.0  # no model: a quote, not a generation


def test_the_sample_queries_are_answered_grounded_or_extractive_never_echoed(
    engine, embedder, indexed
) -> None:
    """What the `aiprime run` summary shows for its sample queries, through the generator server's record."""
    from rich.console import Console

    from aiprime.cli.platform import answers_table

    rows = []
    for text in SAMPLE_QUERIES:
        hits = retrieve(engine, embedder, text, 4, None, indexed)
        record = answer_record(GeneratorRecord(text, tuple(hits)), answer(text, hits, EchoGenerator()))
        assert record["mode"] in ("extractive", "abstained") and record["grounded"] is True, record
        assert not record["answer"].startswith("[") and (
            record["abstained"] or not is_echo(record["answer"], text)
        )
        rows.append({"text": text, "route": {"living": 1.0}, "answered_by": ["living"], "label": "noun.animal",
                     "score": 1.0, "reply": record["answer"], "citations": record["citations"],
                     "mode": record["mode"]})  # fmt: skip
    console = Console(width=400)
    with console.capture() as captured:
        console.print(answers_table(rows, "rag.yaml", {}))
    shown = captured.get()
    assert "(extractive) From " in shown and "Here a small dog that barks" not in shown


def test_a_min_score_above_every_hit_abstains_without_asking_the_model(
    engine, embedder, indexed, questions
) -> None:
    figures = evaluate_answers(
        engine, embedder, questions, BlankGenerator(), min_score=1e9, collection=indexed
    )
    assert figures["answers/abstained"] == 1.0 and figures["answers/seconds_p50"] == 0.0


def test_calibration_threshold_lies_within_the_top_scores(engine, embedder, indexed, questions) -> None:
    threshold, figures = calibrate(engine, embedder, questions, k=4, rerank=None, collection=indexed)
    tops = [retrieve(engine, embedder, q, 4, None, indexed)[0].score for q in questions.question]
    assert min(tops) <= threshold <= max(tops) or threshold == 0.0
    assert 0.0 <= figures["calibration/relevant_retrieved"] <= 1.0
    balanced = (figures["calibration/answerable_kept"] + figures["calibration/unanswerable_refused"]) / 2
    assert balanced >= 0.5 or threshold == 0.0  # at least as good as answering everything


def test_answer_figures_count_only_answered_questions_for_grounding() -> None:
    rows = [
        {
            "abstained": True,
            "cited": 0,
            "grounded": True,
            "overlap": None,
            "cites_relevant": False,
            "retrieved_relevant": False,
            "seconds": 0.0,
        },
        {
            "abstained": False,
            "cited": 1,
            "grounded": False,
            "overlap": 0.25,
            "cites_relevant": True,
            "retrieved_relevant": True,
            "seconds": 2.0,
        },
    ]
    figures = answer_figures(rows)
    assert figures["answers/abstained"] == 0.5 and figures["answers/grounded"] == 0.0
    assert figures["answers/cites_relevant"] == 1.0 and figures["answers/overlap"] == 0.25
    assert figures["answers/seconds_p50"] == 2.0


def test_the_support_threshold_separates_the_labelled_examples(tiny_splits) -> None:
    examples = support_examples(tiny_splits, 20, seed=0, split="val")
    assert set(examples.label) == {0, 1} and (examples.label == 1).sum() == (examples.label == 0).sum()
    threshold, figures = calibrate_support(examples)
    assert 0.0 < threshold <= 1.0
    assert figures["support/supported_kept"] >= 0.9 and figures["support/unsupported_refused"] >= 0.9
    scores = [support(a, q, [c]) for q, a, c in zip(examples.question, examples.answer, examples.cited)]
    kept = [s >= MIN_OVERLAP for s, label in zip(scores, examples.label) if label == 1]
    refused = [s < MIN_OVERLAP for s, label in zip(scores, examples.label) if label == 0]
    assert sum(kept) / len(kept) >= 0.9 and sum(refused) / len(refused) >= 0.9  # the threshold in use
