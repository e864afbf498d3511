"""The arithmetic of the top-2 graph's `combiner` service: weight the experts' outputs by gate probability.

The combiner receives the Ensemble's response of `kserve/graphs/top2.yaml`, one entry per branch:

    {"first":  {"predictions": [{"expert": "actions",   "probability": 0.8,  "scores": {...}}]},
     "second": {"predictions": [{"expert": "qualities", "probability": 0.15, "scores": {...}}]}}

and answers, record by record, the probability-weighted sum of the branches' `scores` (a map of label to
score, or a list of numbers), with the weights renormalised over the branches that answered:

    {"predictions": [{"experts": ["actions", "qualities"], "weights": [0.842, 0.158], "scores": {...}}]}

A branch that failed (a `Soft` step keeps its error body, which has no `predictions`) is left out, so the
answer degrades to the other expert alone. The contract is written up in `kserve/graphs/README.md`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiprime.errors import InvalidInput

BRANCHES = ("first", "second")  # the Ensemble's step names in top2.yaml


def combine_top2(ensemble: Mapping[str, Any], branches: Sequence[str] = BRANCHES) -> dict[str, Any]:
    """Combine the branches of a top-2 Ensemble response into one prediction per record.

    Args:
        ensemble: the Ensemble's response, keyed by branch name.
        branches: the branch names, in order of preference.

    Returns:
        `{"predictions": [...]}`, one combined record per input record.

    Raises:
        InvalidInput: no branch answered predictions, or the branches' scores do not line up.
    """
    answered = [_predictions(ensemble.get(name)) for name in branches]
    answered = [records for records in answered if records]
    if not answered:
        raise InvalidInput(f"No expert answered: none of the branches {list(branches)} holds 'predictions'.")
    count = max(len(records) for records in answered)
    return {"predictions": [_combine_record([r[i] for r in answered if i < len(r)]) for i in range(count)]}


def _predictions(branch: Any) -> list[Mapping[str, Any]]:
    if not isinstance(branch, Mapping) or not isinstance(branch.get("predictions"), list):
        return []
    return [record for record in branch["predictions"] if isinstance(record, Mapping) and "scores" in record]


def _combine_record(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    weights = _normalised([_probability(record) for record in records])
    return {
        "experts": [record.get("expert") for record in records],
        "weights": weights,
        "scores": _weighted_sum([record["scores"] for record in records], weights),
    }


def _probability(record: Mapping[str, Any]) -> float:
    value = record.get("probability", 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidInput(f"Expert {record.get('expert')!r} sent probability {value!r}; send a number >= 0.")
    return float(value)


def _normalised(probabilities: list[float]) -> list[float]:
    total = sum(probabilities)
    if total == 0:
        return [1 / len(probabilities)] * len(probabilities)
    return [p / total for p in probabilities]


def _weighted_sum(scores: list[Any], weights: list[float]) -> Any:
    if all(isinstance(s, Mapping) for s in scores):
        labels = dict.fromkeys(label for s in scores for label in s)  # first-seen order
        return {
            label: sum(w * float(s.get(label, 0.0)) for s, w in zip(scores, weights, strict=True))
            for label in labels
        }
    if all(isinstance(s, list) for s in scores) and len({len(s) for s in scores}) == 1:
        return [
            sum(w * float(s[i]) for s, w in zip(scores, weights, strict=True)) for i in range(len(scores[0]))
        ]
    raise InvalidInput(
        "Experts' scores do not line up; send all maps of label to score or lists of one length."
    )
