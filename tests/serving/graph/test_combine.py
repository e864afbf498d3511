"""The top-2 combiner's arithmetic."""

from __future__ import annotations

import pytest

from aiprime.errors import InvalidInput
from aiprime.serving.graph.combine import combine_top2


def branch(expert: str, probability: float, scores: object) -> dict:
    return {"predictions": [{"expert": expert, "probability": probability, "scores": scores}]}


@pytest.mark.parametrize(
    ("ensemble", "experts", "weights", "scores"),
    [
        (
            {"first": branch("a", 0.6, {"x": 1.0}), "second": branch("b", 0.2, {"x": 0.0, "y": 1.0})},
            ["a", "b"], [0.75, 0.25], {"x": 0.75, "y": 0.25},
        ),
        (
            {"first": branch("a", 0.5, [1.0, 0.0]), "second": branch("b", 0.5, [0.0, 1.0])},
            ["a", "b"], [0.5, 0.5], [0.5, 0.5],
        ),
        ({"first": branch("a", 0.6, {"x": 1.0}), "second": {"error": "down"}}, ["a"], [1.0], {"x": 1.0}),
        ({"first": {"error": "down"}, "second": branch("b", 0.3, {"y": 2.0})}, ["b"], [1.0], {"y": 2.0}),
        ({"first": branch("a", 0, {"x": 1.0}), "second": branch("b", 0, {"x": 0.0})}, ["a", "b"], [0.5, 0.5],
         {"x": 0.5}),
    ],
)  # fmt: skip
def test_scores_are_weighted_by_renormalised_gate_probability(ensemble, experts, weights, scores) -> None:
    (record,) = combine_top2(ensemble)["predictions"]
    assert record["experts"] == experts
    assert record["weights"] == pytest.approx(weights)
    assert record["scores"] == pytest.approx(scores)


@pytest.mark.parametrize(
    ("ensemble", "message"),
    [
        ({"first": {"error": "down"}, "second": {"error": "down"}}, "No expert answered"),
        ({"first": branch("a", 0.5, [1.0]), "second": branch("b", 0.5, [1.0, 2.0])}, "do not line up"),
        ({"first": branch("a", -1, [1.0])}, "send a number >= 0"),
    ],
)
def test_unusable_answers_are_refused(ensemble, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        combine_top2(ensemble)
