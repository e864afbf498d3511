"""Whether an answer stands on what was retrieved, and the retrieval score below which to abstain.

- `groundedness`: every cited id was retrieved, and the answer's content words appear in the cited text.
- `calibrate_min_score`: the top-hit score that best separates answerable questions from unanswerable ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aiprime.errors import InvalidInput
from aiprime.rag.generate import BRACKETS, Answer, as_hits

if TYPE_CHECKING:
    from aiprime.rag.search import Hit

WORD = re.compile(r"[^\W_]+")
# Half the answer's content words must appear in the text it cites: a paraphrase of a one-line gloss keeps
# about that many, an answer from the model's own memory far fewer (tests/rag/test_grounding.py shows both).
MIN_OVERLAP = 0.5


def content_words(text: str) -> set[str]:
    """The lower-cased words of `text` without English stop words, a final plural `s` dropped."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # scikit-learn's 318 words

    words = (w.lower() for w in WORD.findall(BRACKETS.sub(" ", text)))
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in ENGLISH_STOP_WORDS}


def groundedness(answer: Answer, hits: Sequence[Hit | Mapping[str, Any]]) -> dict[str, Any]:
    """How far `answer` stands on `hits`.

    Keys:
        cited: the number of distinct ids the answer cites (retrieved or not).
        cited_ids_retrieved: the fraction of them that are among `hits`; 0.0 when it cites none (an
            uncited answer cannot be checked, so it counts as ungrounded, not vacuously grounded).
        overlap: the fraction of the answer's content words found in the cited hits' text (0.0 if none);
            words of the question are left out: repeating the question claims nothing.
        grounded: it cites at least one id, all of them retrieved, and overlap >= MIN_OVERLAP.
    An abstention claims nothing: cited 0, cited_ids_retrieved and overlap None, grounded True.
    """
    if answer.abstained:
        return {"cited": 0, "cited_ids_retrieved": None, "overlap": None, "grounded": True}
    by_id: dict[str, list[str]] = {}
    for hit in as_hits(hits):
        by_id.setdefault(hit.doc_id, []).append(f"{hit.title} {hit.content}")
    cited = list(dict.fromkeys([*answer.citations, *answer.unknown_citations]))
    retrieved = [i for i in cited if i in by_id]
    words = content_words(answer.text) - content_words(answer.question)
    support = content_words(" ".join(text for i in retrieved for text in by_id[i]))
    overlap = len(words & support) / len(words) if words and retrieved else 0.0
    share = len(retrieved) / len(cited) if cited else 0.0
    return {"cited": len(cited), "cited_ids_retrieved": share, "overlap": overlap,
            "grounded": bool(cited) and share == 1.0 and overlap >= MIN_OVERLAP}  # fmt: skip


def calibrate_min_score(relevant_scores: Sequence[float], irrelevant_scores: Sequence[float]) -> float:
    """The `min_score` that best tells answerable questions (`relevant_scores`) from unanswerable ones.

    Scores are each question's top-hit retrieval score. A question is answered when its score >= the
    threshold; the threshold maximises balanced accuracy (the mean of the fraction of relevant scores kept
    and of irrelevant ones refused), so the larger sample does not dominate. Candidates are the midpoints
    between neighbouring distinct scores (and one below and above them all); ties go to the lowest, which
    abstains least.

    Raises:
        InvalidInput: a sample is empty or holds a non-finite score.
    """
    relevant, irrelevant = _scores(relevant_scores, "relevant"), _scores(irrelevant_scores, "irrelevant")
    values = np.unique(np.concatenate([relevant, irrelevant]))  # sorted
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    kept = (relevant[None, :] >= candidates[:, None]).mean(axis=1)  # (C,)
    refused = (irrelevant[None, :] < candidates[:, None]).mean(axis=1)  # (C,)
    return float(candidates[np.argmax((kept + refused) / 2)])


def _scores(scores: Sequence[float], name: str) -> np.ndarray:
    try:
        array = np.asarray(scores, dtype=np.float64).ravel()
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"{name}_scores must be numbers; got {scores!r:.200}.") from e
    if array.size == 0 or not np.isfinite(array).all():
        raise InvalidInput(
            f"{name}_scores must be a non-empty list of finite numbers; got {list(array[:5])}... "
            "Pass the top-hit score of each question."
        )
    return array
