"""Grounded answers: a prompt that cites the retrieved sources by id, checked before it is shown.

`answer` abstains without calling the model when nothing was retrieved or the best hit scores below
`min_score` (calibrated by `grounding.calibrate_min_score`). Otherwise it chooses the passage the answer
stands on (`chosen_passage`: the best hit, or for a sense question the sense whose gloss fits the example
sentence); a sense question also abstains when no hit is a sense of the word, or when the chosen sense
holds less than `min_share` of the retrieved senses' score (`sense_share`: the word's senses compete).
Then it asks the generator to phrase the answer from that passage alone, shown as `- text [doc id]` (on
12 test questions SmolLM2 shown all 4 hits cited another one for 9; shown the chosen one, its draft passed
the check for 6), and checks the reply (`grounding.check`): it must cite the chosen passage, cite nothing that was not retrieved, claim
more than the question, and be supported by the cited text. A reply that fails is never shown: the answer
becomes the chosen passage quoted (`From WordNet [wn:...]: ...`, mode `extractive`), or an abstention when
even that claims nothing beyond the question. Every `Answer` says its `mode`, whether it is `grounded`, its
`support` and `confidence`, why a draft was set aside, and why it abstained.

The prompt was tuned on 10 test questions with SmolLM2-135M (a retrieved id cited / the cited text
paraphrased, overlap >= 0.5): the format only described, 0-1 / 0; one worked example (a user turn and the
assistant's reply) citing at the end, 2 / 1; the example citing first with `[id] text` sources, 8 / 1, the
model often copying the example's id; with `- text [id]` sources, as here, 10 / 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from aiprime.data.masking import lemma_pattern
from aiprime.errors import InvalidInput
from aiprime.rag.generators import Generator, Message
from aiprime.rag.grounding import BRACKETS, check, content_words, is_echo, support
from aiprime.rag.search import Hit, check_query

DOC_ID = re.compile(r"^[a-z][a-z0-9_-]*:\S+$")  # `<source>:<key>`: wn:n02084071, foldoc:python, pydoc:...
ABSTAIN_TEXT = "I could not find this in the indexed documents."
MAX_SOURCES = 8  # hits beyond the best 8 add prompt tokens, not answers
# The sources' share of SmolLM2's 2048-token window (~4 characters a token): with the instructions, the
# example, a question of MAX_QUERY_CHARS and the answer, the prompt still fits.
PROMPT_CHARS = 3600
MIN_SOURCE_CHARS = 200  # no source is cut shorter than this
MAX_TOKENS = 64
GENERATED, EXTRACTIVE, ABSTAINED = "generated", "extractive", "abstained"  # an answer's `mode`
SENSE_QUESTION = re.compile(r'^What does "(?P<word>[^"]+)" mean in "(?P<sentence>.+)"\?$', re.DOTALL)
# The `sense_share` below which a sense question abstains: a word's two senses retrieved with like scores, or
# three or more, are not a clear fit. Chosen on 200 val sense questions of the full store (champion
# re-ranker and its min_score 0.5186, 4 hits) as the lowest share at which the chosen sense is the relevant
# one for 65% of those answered: 0.515 (val: 65.2% of 56.0% answered; test: 65.7% of 52.5%; 0.5 gave
# 62.2% of 55.5% on test), `python bench/rag_answer_confidence.py --splits DIR/splits --questions 200
# --precision 0.65`. `python bench/rag_answer_rules.py` shows other thresholds on saved candidates.
MIN_SENSE_SHARE = 0.515
SOURCE_NAMES = {"wn": "WordNet", "foldoc": "FOLDOC", "pydoc": "the Python docs"}  # by doc id prefix
SYSTEM = (
    "Pick the source that answers the question. Reply with its id in brackets, then the meaning in one "
    "sentence from that source."
)
# One worked example, the user's turn and the assistant's reply: the format to imitate. It cites the second
# source, so the model learns to choose rather than to copy the first id.
EXAMPLE_QUESTION = (
    "Sources:\n- frump, dog: a dull unattractive unpleasant girl or woman [wn:n10114209]\n"
    "- dog, domestic dog: a member of the genus Canis that has been domesticated by man [wn:n02084071]\n\n"
    'Question: What does "dog" mean in "the dog barked all night"?'
)
EXAMPLE_REPLY = (
    '[wn:n02084071] Here "dog" means a member of the genus Canis that has been domesticated by man.'
)


@dataclass(frozen=True)
class Answer:
    """An answer as shown, how it was made, and what grounds it."""

    question: str  # the question, stripped
    text: str  # the answer shown: the generated reply (citations in brackets), a quote, or ABSTAIN_TEXT
    citations: tuple[str, ...]  # retrieved doc ids the answer cites, in order of first mention
    sources: tuple[dict[str, Any], ...]  # the hits passed in: {"doc_id", "title", "score"}
    abstained: bool  # True: nothing shown answers the question
    unknown_citations: tuple[str, ...] = field(default=())  # ids the reply cites that were not retrieved
    mode: str = GENERATED  # GENERATED, EXTRACTIVE (the chosen passage quoted) or ABSTAINED
    grounded: bool = False  # the answer shown passed the check (an abstention claims nothing: True)
    support: float | None = None  # `grounding.support` of the text shown by what it cites; None: abstained
    draft: str = ""  # the generator's reply when it was set aside (or the only reply, when shown)
    set_aside: str = ""  # why the draft was not shown; "" when it was, or when the model was not asked
    confidence: float | None = None  # `sense_share` for a sense question, else the chosen hit's score
    abstained_because: str = ""  # why it abstained; "" when it answered

    def to_dict(self) -> dict[str, Any]:
        """The answer as JSON-ready lists and dicts."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def as_hits(hits: Sequence[Hit | Mapping[str, Any]], where: str = "hits") -> list[Hit]:
    """`hits` as `Hit`s: each a Hit, or a dict with `doc_id` and `content` (`title`, `score`, ... optional).

    A dict without `score` scores 0.0, so it passes only `min_score` 0.

    Raises:
        InvalidInput: `hits` is not a list, or an item lacks a text `doc_id` or `content` (named by position).
    """
    if not isinstance(hits, Sequence) or isinstance(hits, str):
        raise InvalidInput(
            f"{where} must be a list of hits {{'doc_id', 'content', 'score'}}; got {hits!r:.200}."
        )
    return [hit if isinstance(hit, Hit) else _hit(hit, f"{where}[{i}]") for i, hit in enumerate(hits)]


def _hit(item: Any, where: str) -> Hit:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object with 'doc_id' and 'content'; got {item!r:.200}.")
    for key in ("doc_id", "content"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise InvalidInput(f"{where}.{key} must be a non-empty text; got {item.get(key)!r:.200}.")
    score = item.get("score", 0.0)
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise InvalidInput(f"{where}.score must be a number; got {score!r:.200}.")
    return Hit(chunk_id=-1, doc_id=item["doc_id"], chunk_index=0, title=str(item.get("title", "")),
               content=item["content"], source=str(item.get("source", "")), domain=str(item.get("domain", "")),
               score=float(score))  # fmt: skip


def cited_ids(text: str) -> list[str]:
    """The doc ids `text` cites in brackets, in order of first mention; `[a, b]` cites both.

    Bracketed text that is not an id (`[1]`, `[citation needed]`) is not a citation.
    """
    found = (part.strip() for group in BRACKETS.findall(text) for part in re.split(r"[,;]", group))
    return list(dict.fromkeys(part for part in found if DOC_ID.match(part)))


def source_line(hit: Hit, max_chars: int) -> str:
    """One source as the prompt shows it: `- text [doc id]` on one line, the text cut to `max_chars`."""
    head, _, rest = hit.content.strip().partition("\n")  # WordNet and FOLDOC: "lemmas\ngloss"
    body = " ".join(head.split()) + (f": {' '.join(rest.split())}" if rest.strip() else "")
    if len(body) > max_chars:
        body = body[:max_chars].rsplit(" ", 1)[0] + " ..."  # cut at a word
    return f"- {body} [{hit.doc_id}]"


def prompt(question: str, hits: Sequence[Hit]) -> list[Message]:
    """The chat messages asking for an answer to `question` from `hits` (the best MAX_SOURCES), citing ids."""
    shown = list(hits)[:MAX_SOURCES]
    per_source = max(MIN_SOURCE_CHARS, PROMPT_CHARS // max(len(shown), 1))
    sources = "\n".join(source_line(hit, per_source) for hit in shown)
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": EXAMPLE_QUESTION},
        {"role": "assistant", "content": EXAMPLE_REPLY},
        {"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: {question}"},
    ]


def chosen_passage(question: str, hits: Sequence[Hit]) -> Hit:
    """The hit the answer stands on: the best one, or for `What does "X" mean in "S"?` the sense of X (a hit
    naming X) whose gloss shares the most content words with S, the better-ranked one on a tie."""
    asked = SENSE_QUESTION.match(question)
    if not asked:
        return hits[0]
    senses = named_senses(asked["word"], hits) or list(hits)
    context = content_words(asked["sentence"]) - content_words(asked["word"])
    return max(senses, key=lambda hit: len(context & content_words(hit.content)))  # first of the best


def named_senses(word: str, hits: Sequence[Hit]) -> list[Hit]:
    """The hits naming `word` (WordNet's senses of it, a FOLDOC entry), best first."""
    return [hit for hit in hits if _names(hit, word)]


def sense_share(question: str, hits: Sequence[Hit], chosen: Hit) -> float | None:
    """How clearly `chosen` wins among the senses of X retrieved for `What does "X" mean in "S"?`: its share of
    the scores of the hits naming X (1.0 alone; 0.0 when no hit names X, so no retrieved sense is X's).
    None for any other question.

    The chosen sense is the relevant one far more often when it holds the retrieved senses' score alone
    than when it shares it (`python bench/rag_answer_confidence.py` prints the precision by the number of
    senses retrieved), so this share ranks answers by how far to trust them better than the best hit's score.
    """
    asked = SENSE_QUESTION.match(question)
    if not asked:
        return None
    senses = named_senses(asked["word"], hits)
    if chosen not in senses:
        return 0.0
    total = sum(max(hit.score, 0.0) for hit in senses)
    return max(chosen.score, 0.0) / total if total > 0 else 1.0 / len(senses)


def _names(hit: Hit, word: str) -> bool:
    """True when `word` (any inflection) is one of the hit's names (its first line: WordNet's lemmas)."""
    names = [name.strip() for name in hit.content.split("\n", 1)[0].split(",") if name.strip()]
    pattern = lemma_pattern(names)
    return bool(pattern and pattern.fullmatch(word.strip()))


def quote(hit: Hit) -> str:
    """The extractive answer: `From WordNet [wn:...]: lemmas: gloss`."""
    source = SOURCE_NAMES.get(hit.doc_id.split(":", 1)[0], hit.source or "the documents")
    return f"From {source} [{hit.doc_id}]: {quoted_text(hit)}"


def quoted_text(hit: Hit) -> str:
    """The hit's text on one line, as the prompt shows it, without its id."""
    return source_line(hit, PROMPT_CHARS)[2:].removesuffix(f" [{hit.doc_id}]")


def answer(
    question: str,
    hits: Sequence[Hit | Mapping[str, Any]],
    generator: Generator | None,
    *,
    min_score: float = 0.0,
    min_share: float = 0.0,
    max_tokens: int = MAX_TOKENS,
) -> Answer:
    """The checked answer to `question` from `hits`: generated, extractive, or an abstention.

    Args:
        question: the user's question (1 to MAX_QUERY_CHARS characters).
        hits: the retrieved chunks, best first (`Hit`s, or dicts with `doc_id` and `content`).
        generator: the model that drafts the answer; None: answer extractively, without a model.
        min_score: abstain, without calling the model, when the best hit scores below this.
        min_share: abstain from a sense question whose chosen sense's `sense_share` is below this (any
            value above 0 abstains when no hit names the word); MIN_SENSE_SHARE is calibrated on val.
        max_tokens: the longest answer, in tokens.

    Raises:
        InvalidInput: an empty or oversized question, malformed hits, or max_tokens < 1.
    """
    text, hits = check_query(question), as_hits(hits)
    if max_tokens < 1:
        raise InvalidInput(f"max_tokens={max_tokens}; ask for at least 1 token (default {MAX_TOKENS}).")
    sources = tuple({"doc_id": h.doc_id, "title": h.title, "score": h.score} for h in hits)
    if not hits or max(h.score for h in hits) < min_score:
        why = "nothing was retrieved" if not hits else f"the best passage scores below {min_score:.4g}"
        return abstention(text, sources, why)
    best = chosen_passage(text, hits)
    share = sense_share(text, hits, best)
    if share is not None and share < min_share:
        return abstention(text, sources, unclear_sense(text, share, min_share), confidence=share)
    confidence = share if share is not None else best.score
    if generator is None:
        return replace(extractive(text, best, sources), confidence=confidence)
    reply = generator.complete(prompt(text, [best]), max_tokens).strip()  # the model phrases, not picks
    cited = cited_ids(reply)
    verdict = check(reply, text, hits, cited, stands_on=best.doc_id)
    if not verdict.grounded:  # the draft is kept apart, with why; what it cited is not the answer's
        return replace(extractive(text, best, sources, verdict.reason), draft=reply, confidence=confidence)
    return Answer(text, reply, tuple(cited), sources, abstained=False, mode=GENERATED, grounded=True,
                  support=verdict.support, draft=reply, confidence=confidence)  # fmt: skip


def abstention(
    question: str, sources: tuple[dict[str, Any], ...], why: str, confidence: float | None = None
) -> Answer:
    """The answer that claims nothing: ABSTAIN_TEXT, with why."""
    return Answer(question, ABSTAIN_TEXT, (), sources, abstained=True, mode=ABSTAINED, grounded=True,
                  confidence=confidence, abstained_because=why)  # fmt: skip


def unclear_sense(question: str, share: float, min_share: float) -> str:
    """Why a sense question abstains: no retrieved sense of the word, or none that clearly fits."""
    word = SENSE_QUESTION.match(question)["word"]  # type: ignore[index]  # a sense question
    if share == 0.0:
        return f'no retrieved passage is a sense of "{word}"'
    return f'the senses of "{word}" compete: the best fit holds {share:.2f} of their score, below {min_share:.2f}'


def extractive(question: str, best: Hit, sources: tuple[dict[str, Any], ...], set_aside: str = "") -> Answer:
    """`best` quoted with its source and id, or an abstention when the quote claims nothing beyond the question."""
    if is_echo(quoted_text(best), question):
        return replace(abstention(question, sources, "the best passage only repeats the question"),
                       set_aside=set_aside)  # fmt: skip
    score = support(quoted_text(best), question, [f"{best.title} {best.content}"])
    return Answer(question, quote(best), (best.doc_id,), sources, abstained=False, mode=EXTRACTIVE, grounded=True,
                  support=score, set_aside=set_aside)  # fmt: skip
