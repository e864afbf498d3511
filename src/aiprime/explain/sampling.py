"""Perturbation explanations over a text's words: Kernel SHAP and Shapley value sampling, no gradients.

Both attribute the explained class's probability to words (`aiprime.explain.words`): a coalition keeps some
words and deletes the others, and every coalition a method asks for is evaluated in one batched forward
pass. Both are efficient by construction, so the words' values sum to f(text) - f(no words) up to float
error, which the completeness check reports.

- `kernel_shap`: the `shap` package's KernelExplainer with a capped budget of coalitions (every coalition
  when a text has so few words that they fit it).
- `shapley_sampling`: the mean marginal contribution of each word over random orders of the words, drawn in
  antithetic pairs (an order and its reverse), the sampling estimate of the Shapley values; each order
  costs n - 1 coalitions, so a long text gets fewer orders within the same budget.

The draws are seeded by the word count, so the same text always gets the same explanation, and two texts of
as many words (one word swapped for a synonym) are compared on the same coalitions.
"""

from __future__ import annotations

import numpy as np

from aiprime.explain.attribution import DEFAULT_TOLERANCE, Explanation, WordAttribution, completeness
from aiprime.explain.words import BASELINE, TextWords, coalition_probabilities, split_words
from aiprime.serving.text import TextClassifier

SHAP_METHOD = "shap"
SAMPLING_METHOD = "shapley_sampling"
SHAP_BUDGET = 64  # coalitions Kernel SHAP evaluates: 2^n when n <= 6 words fit, else a sample of 64
SAMPLING_BUDGET = 64  # coalitions Shapley value sampling evaluates, about: orders x (words - 1)
MAX_ORDERS = 8  # random orders it averages at most (4 antithetic pairs), for texts of up to 9 words


def kernel_shap(
    classifier: TextClassifier, text: str, target: int, *, tolerance: float = DEFAULT_TOLERANCE,
    budget: int = SHAP_BUDGET,
) -> Explanation:  # fmt: skip
    """Attribute the probability of class `target` for `text` to its words with Kernel SHAP.

    Args:
        classifier: encoder and head; only evaluated, so the served instance may be shared.
        text: the input.
        target: the output index explained.
        tolerance: the |delta| accepted as complete.
        budget: the most coalitions evaluated besides the full and the empty text.
    """
    import shap  # 5 s to import: only servers that explain with SHAP pay it

    words = split_words(classifier, text)
    n, ends = len(words), _ends(classifier, words, target)
    if n < 2:
        return _explanation(classifier, text, target, SHAP_METHOD, words, _alone(n, ends), ends, tolerance, 2)
    samples = min(budget, 2**n - 2) + 2

    def f(present: np.ndarray) -> np.ndarray:
        return coalition_probabilities(classifier, words, present > 0.5)[:, target]  # (S,)

    state = np.random.get_state()  # KernelExplainer draws from numpy's global generator
    try:
        np.random.seed(n)
        values = shap.KernelExplainer(f, np.zeros((1, n))).shap_values(
            np.ones((1, n)), nsamples=samples, l1_reg=False, silent=True
        )
    finally:
        np.random.set_state(state)
    return _explanation(
        classifier, text, target, SHAP_METHOD, words, np.asarray(values)[0], ends, tolerance, samples
    )


def shapley_sampling(
    classifier: TextClassifier, text: str, target: int, *, tolerance: float = DEFAULT_TOLERANCE,
    budget: int = SAMPLING_BUDGET,
) -> Explanation:  # fmt: skip
    """Attribute the probability of class `target` for `text` to its words by Shapley value sampling.

    The arguments are `kernel_shap`'s, but `budget` is about the most coalitions evaluated: as many
    antithetic pairs of orders as fit it, at least one pair and at most `MAX_ORDERS` orders.
    """
    words = split_words(classifier, text)
    n = len(words)
    if n < 2:
        ends = _ends(classifier, words, target)
        return _explanation(
            classifier, text, target, SAMPLING_METHOD, words, _alone(n, ends), ends, tolerance, 2
        )
    rng = np.random.default_rng(n)
    pairs = min(MAX_ORDERS // 2, max(1, budget // (2 * (n - 1))))
    drawn = [rng.permutation(n) for _ in range(pairs)]
    permutations = np.array([*drawn, *(p[::-1] for p in drawn)]).reshape(-1, n)  # (P, n)
    ranks = np.argsort(permutations, axis=1)  # (P, n): when each word joins
    present = ranks[:, None, :] < np.arange(n + 1)[None, :, None]  # (P, n+1, n): after k words joined
    p = coalition_probabilities(classifier, words, present.reshape(-1, n))[:, target].reshape(
        len(present), n + 1
    )
    gains = np.diff(p, axis=1)  # (P, n): the gain of the k-th word to join
    values = np.take_along_axis(gains, ranks, axis=1).mean(axis=0)  # (n,) each word's mean gain
    unique = len(np.unique(present.reshape(-1, n), axis=0))
    return _explanation(
        classifier, text, target, SAMPLING_METHOD, words, values, p[0, [-1, 0]], tolerance, unique
    )


def _ends(classifier: TextClassifier, words: TextWords, target: int) -> np.ndarray:
    """The probability of `target` for the whole text and for no words: (2,)."""
    n = len(words)
    return coalition_probabilities(classifier, words, np.array([[True] * n, [False] * n]))[:, target]


def _alone(n: int, ends: np.ndarray) -> np.ndarray:
    """Exact values of a text of fewer than 2 words: its one word (if any) carries f(text) - f(no words)."""
    return np.full(n, ends[0] - ends[1])


def _explanation(
    classifier: TextClassifier, text: str, target: int, method: str, words: TextWords, values: np.ndarray,
    ends: np.ndarray, tolerance: float, evaluations: int,
) -> Explanation:  # fmt: skip
    """The word-level `Explanation`; `ends` holds f(text) and f(no words)."""
    attributions = tuple(float(v) for v in np.asarray(values).reshape(-1))
    f_x, f_b = float(ends[0]), float(ends[1])
    delta, complete = completeness(attributions, f_x, f_b, tolerance)
    return Explanation(
        text=text, target=classifier.classes[target], target_index=target, method=method,
        tokens=words.words, attributions=attributions,
        words=tuple(WordAttribution(w, a) for w, a in zip(words.words, attributions, strict=True)),
        prediction=f_x, baseline_prediction=f_b, baseline=BASELINE, delta=delta, tolerance=tolerance,
        complete=complete, evaluations=evaluations,
    )  # fmt: skip
