"""Groundedness of answers and the calibrated abstention threshold."""

from __future__ import annotations

import numpy as np
import pytest

from aiprime.errors import InvalidInput
from aiprime.rag.generate import ABSTAIN_TEXT, Answer
from aiprime.rag.grounding import MIN_OVERLAP, calibrate_min_score, content_words, groundedness

QUESTION = 'What does "bank" mean in "they pulled the canoe up on the bank"?'
HITS = [
    {"doc_id": "wn:n09213565", "title": "bank", "content": "bank\nsloping land (especially the slope beside a body of water)"},
    {"doc_id": "wn:n09213434", "title": "bank", "content": "bank\na long ridge or pile"},
]  # fmt: skip


def _answer(text: str, citations: tuple[str, ...] = (), unknown: tuple[str, ...] = ()) -> Answer:
    return Answer(QUESTION, text, citations, (), abstained=False, unknown_citations=unknown)


def test_a_paraphrase_of_the_cited_gloss_is_grounded() -> None:
    result = groundedness(
        _answer("[wn:n09213565] Here it means sloping land beside water.", ("wn:n09213565",)), HITS
    )
    assert result == {"cited": 1, "cited_ids_retrieved": 1.0, "overlap": 1.0, "grounded": True}


def test_an_answer_from_memory_is_not_grounded() -> None:
    text = "[wn:n09213565] A financial institution that accepts deposits and lends money."
    result = groundedness(_answer(text, ("wn:n09213565",)), HITS)
    assert result["overlap"] < MIN_OVERLAP and not result["grounded"]


def test_a_cited_id_that_was_not_retrieved_is_not_grounded() -> None:
    text = "[wn:n09213565] sloping land beside water [wn:n02084071]"
    result = groundedness(_answer(text, ("wn:n09213565",), ("wn:n02084071",)), HITS)
    assert result["cited"] == 2 and result["cited_ids_retrieved"] == 0.5 and not result["grounded"]


def test_citations_are_checked_against_the_hits_given() -> None:
    result = groundedness(_answer("[wn:n00000001] sloping land", ("wn:n00000001",)), HITS)
    assert result["cited_ids_retrieved"] == 0.0 and result["overlap"] == 0.0 and not result["grounded"]


def test_an_uncited_answer_is_not_grounded() -> None:
    result = groundedness(_answer("Sloping land beside water."), HITS)
    assert result == {"cited": 0, "cited_ids_retrieved": 0.0, "overlap": 0.0, "grounded": False}


def test_an_abstention_claims_nothing() -> None:
    abstained = Answer(QUESTION, ABSTAIN_TEXT, (), (), abstained=True)
    assert groundedness(abstained, HITS) == {
        "cited": 0,
        "cited_ids_retrieved": None,
        "overlap": None,
        "grounded": True,
    }


def test_content_words_drop_stop_words_citations_and_plurals() -> None:
    assert content_words("The banks of [wn:n09213565] a River") == {"bank", "river"}


def test_calibration_separates_separable_scores_at_the_midpoint() -> None:
    assert calibrate_min_score([0.030, 0.032, 0.029], [0.016, 0.018, 0.020]) == pytest.approx(0.0245)


def test_calibration_maximises_balanced_accuracy_on_overlapping_scores() -> None:
    rng = np.random.default_rng(0)
    relevant, irrelevant = rng.normal(0.7, 0.1, 400), rng.normal(0.4, 0.1, 4000)
    threshold = calibrate_min_score(relevant, irrelevant)
    assert 0.5 < threshold < 0.6  # the equal-variance optimum is 0.55; 10x more negatives do not drag it
    balanced = ((relevant >= threshold).mean() + (irrelevant < threshold).mean()) / 2
    for other in (threshold - 0.05, threshold + 0.05):
        assert balanced >= ((relevant >= other).mean() + (irrelevant < other).mean()) / 2


def test_calibration_when_nothing_separates_answers_everything() -> None:
    assert calibrate_min_score([0.5], [0.9]) < 0.5


@pytest.mark.parametrize(("relevant", "irrelevant"), [([], [0.1]), ([0.2], [float("nan")]), (["x"], [0.1])])
def test_calibration_refuses_empty_or_non_finite_samples(relevant: list, irrelevant: list) -> None:
    with pytest.raises(InvalidInput, match="scores"):
        calibrate_min_score(relevant, irrelevant)
