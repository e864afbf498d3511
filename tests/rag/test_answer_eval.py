"""Grounded answers end to end on the tiny corpus: retrieval as the server does it, generation, the check
before showing, the re-check of what was shown, and the support threshold's labelled examples."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from aiprime.errors import ConfigError
from aiprime.rag.answer_eval import (
    answer_figures,
    calibrate,
    calibrate_share,
    calibrate_support,
    evaluate_answers,
    precision_coverage,
    retrieve,
    sense_choices,
    support_examples,
)
from aiprime.rag.evaluate import sample_queries
from aiprime.rag.generate import answer
from aiprime.rag.generators import LlamaCppGenerator, smollm2_path
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
    figures = evaluate_answers(
        engine, embedder, questions, QuotingGenerator(), min_share=0.0, collection=indexed
    )  # min_share 0: answer even where a word's senses compete
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


def sample_answers(engine, embedder, indexed, generator) -> list[dict]:
    """The generator server's record for each of the `aiprime run` summary's sample queries."""
    answers = []
    for text in SAMPLE_QUERIES:
        hits = retrieve(engine, embedder, text, 4, None, indexed)
        answers.append(answer_record(GeneratorRecord(text, tuple(hits)), answer(text, hits, generator)))
    return answers


def test_the_sample_queries_are_answered_grounded_or_extractive_never_echoed(
    engine, embedder, indexed
) -> None:
    """What the `aiprime run` summary shows for its sample queries, through the generator server's record."""
    from rich.console import Console

    from aiprime.cli.platform import answers_table

    rows = []
    for record in sample_answers(engine, embedder, indexed, EchoGenerator()):
        text = record["question"]
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


def test_smollm2s_sample_answers_are_grounded_quotes_or_abstentions_never_echoes(
    engine, embedder, indexed
) -> None:
    """The summary's sample answers as SmolLM2 drafts them: each shown one passed the check."""
    try:
        smollm2_path()
    except ConfigError as e:
        pytest.skip(f"SmolLM2's gguf is not installed here: {e}")
    smollm2 = LlamaCppGenerator(n_threads=1)
    try:
        records = sample_answers(engine, embedder, indexed, smollm2)
    finally:
        smollm2.close()
    for record in records:
        assert record["grounded"] is True and record["mode"] in ("generated", "extractive", "abstained")
        assert record["abstained"] or not is_echo(record["answer"], record["question"]), record
        assert record["mode"] != "generated" or record["support"] >= MIN_OVERLAP, record
        assert record["abstained"] or record["citations"], record


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


def test_held_out_documents_make_an_unanswerable_question_of_every_query(
    engine, embedder, indexed, questions
) -> None:
    _, plain = calibrate(engine, embedder, questions, k=4, rerank=None, collection=indexed)
    _, held = calibrate(engine, embedder, questions, k=4, rerank=None, collection=indexed, hold_out=True)

    n, misses = len(questions), round(len(questions) * (1 - held["calibration/relevant_retrieved"]))
    assert plain["calibration/unanswerable_scored"] == misses
    # each query once more, its document held out
    assert held["calibration/unanswerable_scored"] == n + misses


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


def test_the_share_threshold_is_the_lowest_that_keeps_the_asked_precision() -> None:
    choices = pd.DataFrame({"share": [1.0, 0.9, 0.8, 0.6, 0.5, 0.4, 0.0],
                            "correct": [True, True, False, True, False, False, False]})  # fmt: skip
    threshold, figures = calibrate_share(choices, 0.65)  # kept precision 1, 1, .67, .75, .6, .5, .43
    assert threshold == 0.6 and figures["share/coverage"] == pytest.approx(4 / 7)
    assert figures["share/precision"] == 0.75 and calibrate_share(choices, 0.99)[0] == 0.9
    assert calibrate_share(choices.assign(correct=False), 0.5)[0] == 1.0  # nothing reaches it: never answer


def test_sense_choices_on_the_tiny_store(engine, embedder, indexed, questions) -> None:
    choices = sense_choices(engine, embedder, questions, rerank=None, collection=indexed)
    assert len(choices) == len(questions) and choices.share.between(0.0, 1.0).all()
    assert (choices.share[choices.senses == 0] == 0.0).all() and (choices.share[choices.senses > 0] > 0).all()


def test_the_curve_ranks_answers_by_their_confidence() -> None:
    rows = [{"abstained": False, "confidence": c, "cites_relevant": ok}
            for c, ok in ((0.9, True), (0.2, False), (0.6, True), (0.1, False))]  # fmt: skip
    curve = precision_coverage(rows + [{"abstained": True, "confidence": 0.0, "cites_relevant": False}])
    assert curve["curve/coverage 0.40 precision"] == 1.0 and curve["curve/coverage 0.40 threshold"] == 0.6
    assert curve["curve/coverage 0.80 precision"] == 0.5


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
