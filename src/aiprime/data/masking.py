"""Masking a synset's lemmas in its example sentences, so that an example becomes a retrieval query."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

MASK = "___"
_VOWELS = set("aeiou")


def word_pattern(word: str) -> str:
    """A regex for `word` and its simple inflections.

    Covers -s, -es, -ed, -d, -ing, plus the regular spelling changes: e dropped before -ing (make, making),
    y to -ies/-ied (carry), a final consonant doubled (stop, stopped). Irregular forms (ran, geese) are not.
    """
    escaped, lower = re.escape(word), word.lower()
    if not lower[-1:].isalpha():
        return escaped
    alternatives = [escaped + "(?:s|es|ed|d|ing)?"]
    if lower.endswith("e"):
        alternatives.append(re.escape(word[:-1]) + "ing")
    if len(lower) > 1 and lower.endswith("y") and lower[-2] not in _VOWELS:
        alternatives.append(re.escape(word[:-1]) + "i(?:es|ed)")
    is_cvc = len(lower) > 2 and lower[-1] not in _VOWELS | set("wxy")
    if is_cvc and lower[-2] in _VOWELS and lower[-3] not in _VOWELS:
        alternatives.append(escaped + re.escape(word[-1]) + "(?:ed|ing)")
    return "(?:" + "|".join(alternatives) + ")"


@functools.lru_cache(maxsize=1024)
def _compiled(lemmas: tuple[str, ...]) -> re.Pattern[str] | None:
    words_of = sorted({tuple(lemma.split()) for lemma in lemmas if lemma.strip()}, key=lambda w: (-len(w), w))
    alternatives = [r"[\s-]+".join(map(word_pattern, words)) for words in words_of]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def lemma_pattern(lemmas: Iterable[str]) -> re.Pattern[str] | None:
    """A case-insensitive, whole-word pattern for any of `lemmas`, each word with its inflections.

    Multi-word lemmas match with spaces or hyphens between their words, and are tried before shorter
    lemmas so that "hot dog" is masked whole. Returns None if there are no lemmas.
    """
    return _compiled(tuple(lemmas))


def mask_lemmas(sentence: str, lemmas: Iterable[str], mask: str = MASK) -> tuple[str, int]:
    """Replace every occurrence of the lemmas in `sentence` by `mask`.

    Args:
        sentence: An example sentence, e.g. "the dogs barked all night".
        lemmas: The synset's lemmas, e.g. ["dog", "domestic dog", "Canis familiaris"].
        mask: What each occurrence becomes.

    Returns:
        The masked sentence ("the ___ barked all night") and how many occurrences were masked.
    """
    pattern = lemma_pattern(lemmas)
    return pattern.subn(mask, sentence) if pattern else (sentence, 0)
