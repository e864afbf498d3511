"""Grounded answers end to end on the tiny corpus: retrieval as the server does it, generation, grounding."""

from __future__ import annotations

import uuid

import pytest

from aiprime.rag.answer_eval import answer_figures, calibrate, evaluate_answers, retrieve
from aiprime.rag.evaluate import sample_queries
from aiprime.rag.ingest import ingest


class QuotingGenerator:
    """Answers with the prompt's first source line, its id cited: grounded by construction."""

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        sources = messages[-1]["content"].split("\n")
        return next(line for line in sources if line.startswith("- "))[2:]


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
    assert figures["answers/overlap"] > 0.5


def test_an_uncited_answer_is_never_grounded(engine, embedder, indexed, questions) -> None:
    figures = evaluate_answers(engine, embedder, questions, BlankGenerator(), collection=indexed)
    assert figures["answers/cited"] == figures["answers/grounded"] == figures["answers/cites_relevant"] == 0.0


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
