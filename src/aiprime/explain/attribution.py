"""What an explanation answers: tokens with attributions, the class explained, and a completeness check.

Both methods here are additive: the attributions of a text's tokens should sum to f(x) - f(baseline), the
change in the explained class's probability between the text and a baseline with its words taken out.
`delta` is how far they miss; an explanation is `complete` when |delta| <= `tolerance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

DEFAULT_TOLERANCE = 0.01  # in probability units: attributions must add up to within one percentage point


@dataclass(frozen=True)
class WordAttribution:
    """A word (word pieces joined) and the sum of its pieces' attributions."""

    word: str
    attribution: float


@dataclass(frozen=True)
class Explanation:
    """Attributions of one text's prediction of one class."""

    text: str  # the input explained
    target: str  # the class explained
    target_index: int  # its output index
    method: str  # "integrated_gradients" | "shap"
    tokens: tuple[str, ...]  # the units attributed: word pieces (IG) or masker tokens (SHAP)
    attributions: tuple[float, ...]  # one per token; positive pushed towards `target`
    words: tuple[WordAttribution, ...]  # tokens joined into words, special tokens left out
    prediction: float  # f(x): the probability of `target` for the text
    baseline_prediction: float  # f(baseline): the same with the words removed (see `baseline`)
    baseline: str  # what the baseline is
    delta: float  # sum(attributions) - (prediction - baseline_prediction)
    tolerance: float  # |delta| allowed for a complete explanation
    complete: bool  # |delta| <= tolerance
    evaluations: int  # IG: integration steps; SHAP: model evaluations

    def top_words(self, k: int = 5) -> list[WordAttribution]:
        """The `k` words with the largest absolute attribution."""
        return sorted(self.words, key=lambda w: abs(w.attribution), reverse=True)[:k]

    def to_dict(self) -> dict:
        """A JSON-ready dict (the `:explain` response's record)."""
        return asdict(self)


def completeness(
    attributions: Sequence[float], prediction: float, baseline: float, tolerance: float
) -> tuple[float, bool]:
    """`delta` = sum(attributions) - (prediction - baseline), and whether |delta| <= tolerance."""
    delta = float(sum(attributions)) - (prediction - baseline)
    return delta, abs(delta) <= tolerance


def join_word_pieces(
    tokens: Sequence[str], attributions: Sequence[float], special: set[str]
) -> list[WordAttribution]:
    """Words from WordPiece tokens: `##` pieces join the word before them; special tokens are skipped."""
    words: list[list] = []
    for token, value in zip(tokens, attributions, strict=True):
        if token in special:
            continue
        if token.startswith("##") and words:
            words[-1][0] += token[2:]
            words[-1][1] += value
        else:
            words.append([token, value])
    return [WordAttribution(word, float(value)) for word, value in words]
