"""The three explanation methods on a model whose answer depends on one known word: what each attributes to,
that the attributions add up, and what they cost."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers.keyword_model import KNOWN, SNAKE

from aiprime.errors import InvalidInput
from aiprime.explain.measures import without
from aiprime.explain.sampling import SAMPLING_BUDGET, SHAP_BUDGET
from aiprime.explain.words import coalition_probabilities, split_words

WORD_METHODS = {"shap": "shap", "sampling": "shapley_sampling"}


@pytest.mark.parametrize("method", WORD_METHODS)
def test_perturbation_methods_attribute_to_whole_words_that_add_up(keyword_model, method) -> None:
    why = keyword_model.explain(SNAKE, target=0, method=method)
    assert why.method == WORD_METHODS[method] and why.tokens == tuple(SNAKE.split())
    assert [w.word for w in why.words] == SNAKE.split()  # one feature per word: no pieces, no [CLS]/[SEP]
    assert why.top_words(1)[0].word == KNOWN, why.top_words()
    assert why.prediction > 0.5 > why.baseline_prediction  # the baseline is the empty text
    assert why.complete and abs(why.delta) < 1e-6  # both are efficient by construction
    assert sum(why.attributions) == pytest.approx(why.prediction - why.baseline_prediction, abs=1e-6)


@pytest.mark.parametrize(("method", "budget"), [("shap", SHAP_BUDGET), ("sampling", SAMPLING_BUDGET)])
def test_perturbation_methods_keep_to_their_budget_and_repeat_themselves(
    keyword_model, method, budget
) -> None:
    why = keyword_model.explain(SNAKE, target=0, method=method)
    assert why.evaluations <= budget + 2 < 2 ** len(why.words)  # 14 words: far fewer than every coalition
    assert (
        keyword_model.explain(SNAKE, target=0, method=method) == why
    )  # seeded: the same text, the same answer


def test_a_coalition_is_evaluated_as_the_text_with_the_other_words_deleted(keyword_model) -> None:
    classifier = keyword_model.classifier
    words = split_words(classifier, SNAKE)
    present = np.random.default_rng(0).random((6, len(words))) < 0.5
    deleted = [[i for i, keep in enumerate(row) if not keep] for row in present]
    expected = classifier.predict_texts([without(words.words, gone) for gone in deleted])
    assert np.allclose(coalition_probabilities(classifier, words, present), expected, atol=1e-5)


@pytest.mark.parametrize("method", ["shap", "sampling", "ig"])
@pytest.mark.parametrize("text", ["", "python"])
def test_texts_of_fewer_than_two_words_are_explained_exactly(keyword_model, method, text) -> None:
    why = keyword_model.explain(text, target=0, method=method)
    assert [w.word for w in why.words] == text.split() and why.complete


def test_integrated_gradients_take_one_pass_of_32_steps_by_default(keyword_model) -> None:
    why = keyword_model.explain(SNAKE, target=0, method="ig")
    assert why.method == "integrated_gradients" and why.evaluations == 32
    assert why.tokens[0] == "[CLS]" and why.tokens[-1] == "[SEP]"


def test_an_unknown_method_names_the_three(keyword_model) -> None:
    with pytest.raises(InvalidInput, match="'ig', 'shap', 'sampling'"):
        keyword_model.explain(SNAKE, target=0, method="lime")
