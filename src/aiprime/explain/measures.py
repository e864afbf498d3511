"""How good an explanation is, measured on the model it explains: faithfulness, stability, counterfactuals.

- Faithfulness: deleting the words an explanation ranks highest should lower the explained class's
  probability more than deleting as many words at random (`deletion_drops`; a benchmark reports the ratio
  of the mean drops over many texts).
- Stability: swapping one word for a WordNet synonym should barely move the attributions
  (`stability`, the Spearman correlation of the words' attributions before and after).
- Minimal counterfactual: the fewest words whose deletion changes the prediction (`minimal_counterfactual`:
  greedy in the explanation's order, then an exact search over small sets of its top words).

Words are the explanation's words (word pieces joined, lowercased by the uncased tokenizer); a text with
words deleted is the remaining words joined by spaces, which the tokenizer splits back into the same pieces.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from aiprime.errors import InvalidInput
from aiprime.explain.attribution import Explanation
from aiprime.explain.explainer import TextExplainer
from aiprime.rag.lexical import STOPWORDS
from aiprime.serving.text import TextClassifier

DELETED_SHARE = 0.2  # faithfulness deletes this share of a text's words
RANDOM_DRAWS = 5  # random deletions averaged per text, so one lucky draw does not decide
MAX_DELETIONS = 3  # a counterfactual needing more deletions than this counts as not found
CANDIDATES = 8  # the exact search tries sets of the explanation's top words only


@dataclass(frozen=True)
class Counterfactual:
    """The fewest words whose deletion changes the prediction, as found."""

    deleted: tuple[str, ...]  # the words deleted, in text order
    positions: tuple[int, ...]  # their indices among the explanation's words
    text: str  # what is left of the text
    before: str  # the class predicted for the whole text
    after: str  # the class predicted once they are deleted
    probability: float  # the probability of `after` for the remaining text
    evaluations: int  # texts the search evaluated

    def to_dict(self) -> dict:
        """A JSON-ready dict (the `counterfactual` of an `:explain` record)."""
        return asdict(self)


def without(words: Sequence[str], deleted: Sequence[int]) -> str:
    """The text left when the words at `deleted` positions are removed."""
    gone = set(deleted)
    return " ".join(w for i, w in enumerate(words) if i not in gone)


def ranked_positions(explanation: Explanation) -> list[int]:
    """Word positions from the largest attribution towards the explained class to the smallest."""
    values = [w.attribution for w in explanation.words]
    return sorted(range(len(values)), key=lambda i: -values[i])


def deletion_drops(
    classifier: TextClassifier, explanation: Explanation, rng: random.Random, share: float = DELETED_SHARE
) -> tuple[float, float]:
    """Drop in the explained class's probability when the top `share` of words by attribution are deleted,
    and the mean drop over `RANDOM_DRAWS` random deletions of as many words."""
    words = [w.word for w in explanation.words]
    k = max(1, round(share * len(words)))
    random_sets = [rng.sample(range(len(words)), k) for _ in range(RANDOM_DRAWS)]
    texts = [without(words, []), without(words, ranked_positions(explanation)[:k])]
    texts += [without(words, chosen) for chosen in random_sets]
    p = classifier.predict_texts(texts)[:, explanation.target_index]  # (2 + RANDOM_DRAWS,)
    return float(p[0] - p[1]), float(p[0] - p[2:].mean())


def faithfulness_ratio(drops: Sequence[tuple[float, float]]) -> float:
    """Mean drop when deleting the top words over the mean drop when deleting random words."""
    top, random_ = np.asarray(drops, dtype=float).mean(axis=0)
    return float(top / random_) if random_ > 0 else math.inf


def synonym_swap(
    words: Sequence[str], synonyms: dict[str, list[str]], rng: random.Random
) -> list[str] | None:
    """`words` with one content word (not a stopword, one that WordNet gives a one-word synonym) replaced by
    a synonym, both chosen by `rng`; None when no word has one. `synonyms`: `rag.query_kinds.synonym_table`
    over the WordNet synsets."""
    swappable = [i for i, w in enumerate(words) if w.isalpha() and w not in STOPWORDS and w in synonyms]
    if not swappable:
        return None
    i = rng.choice(swappable)
    return [*words[:i], rng.choice(synonyms[words[i]]), *words[i + 1 :]]


def stability(before: Explanation, after: Explanation) -> float:
    """Spearman correlation of the words' attributions in two explanations of texts with as many words
    (one word swapped for a synonym); 1.0 for identical attributions, nan when either is constant."""
    a = [w.attribution for w in before.words]
    b = [w.attribution for w in after.words]
    if len(a) != len(b):
        raise ValueError(f"Stability compares texts with as many words; got {len(a)} and {len(b)}.")
    if a == b:
        return 1.0
    return float(spearmanr(a, b).statistic)


def minimal_counterfactual(
    classifier: TextClassifier,
    explanation: Explanation,
    max_deletions: int = MAX_DELETIONS,
    candidates: int = CANDIDATES,
) -> Counterfactual | None:
    """The fewest words (at most `max_deletions`) whose deletion changes the predicted class, or None.

    Greedy first: delete the top 1, 2, ... words by attribution until the prediction changes. Then an exact
    search over every set of the top `candidates` words smaller than the greedy answer, smallest first, so
    the answer is minimal among those words; of equally small sets, the one that leaves the original class
    least probable wins.
    """
    words = [w.word for w in explanation.words]
    order = ranked_positions(explanation)
    sets = [tuple(order[:k]) for k in range(1, min(max_deletions, len(words) - 1) + 1)]
    original, evaluations = int(_predict(classifier, words, [()])[0][0]), 1
    best = _first_flip(classifier, words, sets, original)
    evaluations += len(sets)
    for size in range(1, len(best[0]) if best else 0):
        smaller = list(itertools.combinations(sorted(order[:candidates]), size))
        evaluations += len(smaller)
        found = _first_flip(classifier, words, smaller, original)
        if found is not None:
            best = found
            break
    if best is None:
        return None
    chosen, predicted, probability = best
    return Counterfactual(
        deleted=tuple(words[i] for i in sorted(chosen)), positions=tuple(sorted(chosen)),
        text=without(words, chosen), before=classifier.classes[original], after=classifier.classes[predicted],
        probability=probability, evaluations=evaluations,
    )  # fmt: skip


def _predict(
    classifier: TextClassifier, words: list[str], sets: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class and probabilities of the text with each set of words deleted: (S,), (S, C)."""
    probabilities = classifier.predict_texts([without(words, chosen) for chosen in sets])  # (S, C)
    return probabilities.argmax(axis=1), probabilities


def _first_flip(
    classifier: TextClassifier, words: list[str], sets: list[tuple[int, ...]], original: int
) -> tuple[tuple[int, ...], int, float] | None:
    """Of `sets` (deleted positions), the smallest whose deletion changes the prediction from `original`
    (ties: the original class least probable), with the new class and its probability; None if none does."""
    if not sets:
        return None
    predicted, probabilities = _predict(classifier, words, sets)
    flipped = [i for i in range(len(sets)) if predicted[i] != original]
    if not flipped:
        return None
    best = min(flipped, key=lambda i: (len(sets[i]), probabilities[i, original]))
    return sets[best], int(predicted[best]), float(probabilities[best, predicted[best]])


@dataclass(frozen=True)
class TextMeasures:
    """One text's measures under one explanation method."""

    seconds: float  # the explanation's wall time
    cpu_seconds: float  # the CPU time this process spent on it (every thread), which load does not stretch
    drops: tuple[float, float]  # `deletion_drops`: top words, random words
    spearman: float | None  # `stability` after one synonym swap; None when no word has a synonym
    deletions: int | None  # words in the minimal counterfactual; None when not found in MAX_DELETIONS
    delta: float  # the explanation's completeness error (`Explanation.delta`)


def measure_text(
    explainer: TextExplainer, text: str, method: str, synonyms: dict[str, list[str]], rng: random.Random
) -> TextMeasures:
    """Explain `text`'s predicted class with `method` and measure the explanation on the explained model."""
    classifier = explainer.classifier
    target = int(classifier.predict_texts([text])[0].argmax())
    start, cpu_start = time.perf_counter(), time.process_time()
    explanation = explainer.explain(text, target, method)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    swapped = synonym_swap([w.word for w in explanation.words], synonyms, rng)
    spearman = None
    if swapped is not None:
        spearman = stability(explanation, explainer.explain(" ".join(swapped), target, method))
    found = minimal_counterfactual(classifier, explanation)
    return TextMeasures(
        seconds,
        cpu_seconds,
        deletion_drops(classifier, explanation, rng),
        spearman,
        None if found is None else len(found.deleted),
        explanation.delta,
    )


def explanation_record(classifier: TextClassifier, explanation: Explanation, counterfactual: Any) -> dict:
    """The `:explain` record of an explanation, with `probabilities`: the explained model's probability of
    every class for the text (the gate's: every domain's, which the console's route chart draws). With
    `counterfactual` true it adds `counterfactual`: the fewest words (<= MAX_DELETIONS) whose deletion
    changes the prediction, or null when none does.

    Raises:
        InvalidInput: `counterfactual` is not a boolean (HTTP 400).
    """
    if not isinstance(counterfactual, bool):
        raise InvalidInput(f"parameters.counterfactual must be true or false; got {counterfactual!r}.")
    record = explanation.to_dict()
    probabilities = classifier.predict_texts([explanation.text])[0]  # (C,)
    record["probabilities"] = {
        c: round(float(p), 6) for c, p in zip(classifier.classes, probabilities, strict=True)
    }
    if counterfactual:
        found = minimal_counterfactual(classifier, explanation)
        record["counterfactual"] = None if found is None else found.to_dict()
    return record
