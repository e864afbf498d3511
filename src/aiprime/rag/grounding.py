"""Whether an answer stands on what was retrieved, and the retrieval score below which to abstain.

- `support`: the share of an answer's claimed words (its content words that are not the question's) found
  in the text it cites; `is_echo`: an answer that claims nothing beyond the question.
- `check`: the verdict `generate.answer` acts on before it shows a generated answer.
- `groundedness`: the same measures reported for an `Answer`.
- `calibrate_min_score`: the score that best separates two labelled samples (answerable questions' top-hit
  scores from unanswerable ones', or supported answers' `support` from unsupported ones').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aiprime.errors import InvalidInput

if TYPE_CHECKING:
    from aiprime.rag.generate import Answer
    from aiprime.rag.search import Hit

BRACKETS = re.compile(r"\[([^\[\]]{1,300})\]")
WORD = re.compile(r"[^\W_]+")
QUOTED_FROM = re.compile(r"^From [^\[\]]{1,40} \[[^\[\]]+\]: ")  # an extractive answer's attribution
# Words an answer's phrasing adds without claiming anything ("Here X means ...", "refers to", "the word").
PHRASING = frozenset({"mean", "meaning", "refer", "refers", "word", "term", "context", "sentence", "here"})
# The support an answer needs, calibrated by `answer_eval.calibrate_support` (balanced accuracy, ties to the
# lowest) on 400 labelled val pairs built from WordNet: an answer phrasing the relevant sense's gloss, or a
# confuser's (another sense of the same word), each checked against the relevant gloss. It kept 99.5% of
# the supported and refused 98.5%; on 400 test pairs 98.5% and 99.5% (0.5 refused only 95.5%).
# `python bench/rag_support_threshold.py --splits data/splits`.
MIN_OVERLAP = 0.875


def content_words(text: str) -> set[str]:
    """The lower-cased words of `text` without English stop words, a final plural `s` dropped."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # scikit-learn's 318 words

    words = (w.lower() for w in WORD.findall(BRACKETS.sub(" ", text)))
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in ENGLISH_STOP_WORDS}


def claimed_words(text: str, question: str) -> set[str]:
    """What `text` claims: its content words that are neither the question's nor mere phrasing (nor a
    quote's attribution, `From WordNet [wn:...]: `)."""
    return content_words(QUOTED_FROM.sub("", text)) - content_words(question) - PHRASING


def is_echo(text: str, question: str) -> bool:
    """True when `text` claims nothing beyond the question ("Here a small dog that barks.")."""
    return not claimed_words(text, question)


def support(text: str, question: str, cited_texts: Iterable[str]) -> float:
    """The share of `text`'s claimed words found in `cited_texts` (0.0 for an echo or when nothing is cited)."""
    words = claimed_words(text, question)
    found = content_words(" ".join(cited_texts))
    return len(words & found) / len(words) if words and found else 0.0


@dataclass(frozen=True)
class Verdict:
    """Whether a generated reply may be shown as the answer, and why not."""

    grounded: (
        bool  # it cites the chosen passage, cites nothing unretrieved, and is supported by what it cites
    )
    support: float  # `support` of the reply by the retrieved passages it cites
    reason: str = ""  # why it is not grounded; "" when it is


def check(
    reply: str, question: str, hits: Sequence[Hit], cited: Sequence[str], *, stands_on: str,
    min_support: float = MIN_OVERLAP,
) -> Verdict:  # fmt: skip
    """The verdict on `reply` to `question`, citing `cited` (every id it cites), from `hits`.

    `stands_on` is the doc id of the passage the answer must cite: the one chosen as the best answer.
    """
    texts = texts_by_id(hits)
    unknown = [i for i in cited if i not in texts]
    score = support(reply, question, (t for i in cited if i in texts for t in texts[i]))
    if not cited:
        return Verdict(False, score, "it cites no retrieved passage")
    if unknown:
        return Verdict(False, score, f"it cites ids that were not retrieved: {', '.join(unknown)}")
    if is_echo(reply, question):
        return Verdict(False, score, "it repeats the question")
    if stands_on not in cited:
        return Verdict(False, score, f"it does not cite the best passage, {stands_on}")
    if score < min_support:
        return Verdict(False, score, f"its support {score:.2f} is below {min_support:.2f}")
    return Verdict(True, score)


def texts_by_id(hits: Sequence[Hit | Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each doc id's retrieved texts (title and content), from `Hit`s or hit dicts."""
    by_id: dict[str, list[str]] = {}
    for hit in hits:
        doc_id, title, content = (
            (hit["doc_id"], hit.get("title", ""), hit["content"])
            if isinstance(hit, Mapping)
            else (hit.doc_id, hit.title, hit.content)
        )
        by_id.setdefault(doc_id, []).append(f"{title} {content}")
    return by_id


def groundedness(answer: Answer, hits: Sequence[Hit | Mapping[str, Any]]) -> dict[str, Any]:
    """How far `answer` stands on `hits`.

    Keys:
        cited: the number of distinct ids the answer cites (retrieved or not).
        cited_ids_retrieved: the fraction of them that are among `hits`; 0.0 when it cites none (an
            uncited answer cannot be checked, so it counts as ungrounded, not vacuously grounded).
        overlap: `support` of the answer by the cited hits' text (0.0 if none was retrieved).
        grounded: it cites at least one id, all of them retrieved, claims something beyond the question,
            and overlap >= MIN_OVERLAP.
    An abstention claims nothing: cited 0, cited_ids_retrieved and overlap None, grounded True.
    """
    if answer.abstained:
        return {"cited": 0, "cited_ids_retrieved": None, "overlap": None, "grounded": True}
    by_id = texts_by_id(hits)
    cited = list(dict.fromkeys([*answer.citations, *answer.unknown_citations]))
    retrieved = [i for i in cited if i in by_id]
    overlap = support(answer.text, answer.question, (t for i in retrieved for t in by_id[i]))
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
    below_all = 0.0 if values[0] > 0 else values[0] - 1.0  # 0 for scores that are probabilities
    candidates = np.concatenate([[below_all], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
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
