"""Explanations measured on the model they explain: faithfulness, stability, the minimal counterfactual."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from _helpers.gates import served_gate, train_gate
from _helpers.keyword_model import KNOWN, SNAKE

from aiprime.errors import InvalidInput
from aiprime.explain.measures import (
    deletion_drops,
    faithfulness_ratio,
    minimal_counterfactual,
    ranked_positions,
    stability,
    synonym_swap,
)
from aiprime.serving.protocol import parse_gate

pytestmark = pytest.mark.usefixtures("default_metrics_registry")  # it builds the gate's server object

DOG = "a domestic animal that barks and is kept as a pet"


def test_deleting_the_top_words_lowers_the_class_more_than_deleting_random_ones(keyword_model) -> None:
    why = keyword_model.explain(SNAKE, target=0)
    assert why.words[ranked_positions(why)[0]].word == KNOWN, why.top_words()
    top, at_random = deletion_drops(keyword_model.classifier, why, random.Random(0))
    assert top > 0.5 and faithfulness_ratio([(top, at_random)]) >= 2, (top, at_random)


def test_identical_inputs_are_perfectly_stable_and_a_swap_keeps_the_word_count(keyword_model) -> None:
    why = keyword_model.explain(SNAKE, target=0)
    assert stability(why, keyword_model.explain(SNAKE, target=0)) == 1.0
    words = [w.word for w in why.words]
    swapped = synonym_swap(words, {"large": ["big"], "the": ["a"]}, random.Random(0))
    assert swapped == [("big" if w == "large" else w) for w in words]  # stopwords are never swapped
    assert synonym_swap(["the", "of"], {"the": ["a"]}, random.Random(0)) is None


def test_the_minimal_counterfactual_deletes_the_known_word(keyword_model) -> None:
    why = keyword_model.explain(SNAKE, target=0)
    found = minimal_counterfactual(keyword_model.classifier, why)
    assert found is not None and found.deleted == (KNOWN,)
    assert (found.before, found.after) == ("names-it", "does-not")
    assert keyword_model.classifier.predict_texts([found.text])[0].argmax() == 1  # the text it names flips


@pytest.fixture(scope="module")
def gate(subset_splits: Path, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """The gate server's model object, loaded from a tiny gate trained on real glosses."""
    folder = train_gate(
        subset_splits / "classification.parquet", embedding_cache, tmp_path_factory.mktemp("gate")
    )
    return served_gate(folder)


def _explain(gate, parameters: dict) -> dict:
    return asyncio.run(gate.explain(parse_gate({"instances": [DOG], "parameters": parameters})))[
        "explanations"
    ][0]


@pytest.mark.slow
def test_the_gate_serves_the_minimal_counterfactual_when_asked(gate) -> None:
    plain = _explain(gate, {})
    assert "counterfactual" not in plain
    routes = plain["probabilities"]  # every domain's probability: what the console's route chart draws
    assert list(routes) == list(gate.classifier.classes) and sum(routes.values()) == pytest.approx(
        1, abs=1e-4
    )
    assert max(routes, key=routes.get) == plain["target"]
    why = _explain(gate, {"counterfactual": True})
    found = why["counterfactual"]
    assert found is not None, why["words"]  # a gloss of a few words: deleting <= 3 of them moves a tiny gate
    assert 1 <= len(found["deleted"]) <= 3 and found["before"] == why["target"] != found["after"]
    routed = asyncio.run(gate.predict(parse_gate({"instances": [found["text"]]})))["predictions"][0]
    assert routed["expert"] == found["after"]  # the served route of what is left is the one it names
    with pytest.raises(InvalidInput, match="parameters.counterfactual"):
        _explain(gate, {"counterfactual": "yes"})


@pytest.mark.slow
def test_the_gate_adds_up_within_one_pass_of_integrated_gradients(gate) -> None:
    why = _explain(gate, {"method": "ig"})
    assert why["method"] == "integrated_gradients" and why["evaluations"] == 32
    assert why["complete"], why["delta"]  # a smooth gate: 32 Gauss-Legendre steps add up within 0.01
