"""Grounded answers: a prompt that cites the retrieved sources by id, and the answer with its citations.

`answer` abstains without calling the model when nothing was retrieved or the best hit scores below
`min_score` (calibrated by `grounding.calibrate_min_score`); otherwise it asks the generator to answer from
the sources only, each shown as `- text [doc id]`, and to cite the one it used. The citations are the bracketed ids of the reply
that were retrieved; ids the model made up are dropped and kept apart (`unknown_citations`), and when it
cites nothing, nothing is cited: `grounding.groundedness` reports it instead of this module guessing.

The prompt was tuned on 10 test questions with SmolLM2-135M (a retrieved id cited / the cited text
paraphrased, overlap >= 0.5): the format only described, 0-1 / 0; one worked example (a user turn and the
assistant's reply) citing at the end, 2 / 1; the example citing first with `[id] text` sources, 8 / 1, the
model often copying the example's id; with `- text [id]` sources, as here, 10 / 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aiprime.errors import InvalidInput
from aiprime.rag.generators import Generator, Message
from aiprime.rag.search import Hit, check_query

BRACKETS = re.compile(r"\[([^\[\]]{1,300})\]")
DOC_ID = re.compile(r"^[a-z][a-z0-9_-]*:\S+$")  # `<source>:<key>`: wn:n02084071, foldoc:python, pydoc:...
ABSTAIN_TEXT = "I could not find this in the indexed documents."
MAX_SOURCES = 8  # hits beyond the best 8 add prompt tokens, not answers
# The sources' share of SmolLM2's 2048-token window (~4 characters a token): with the instructions, the
# example, a question of MAX_QUERY_CHARS and the answer, the prompt still fits.
PROMPT_CHARS = 3600
MIN_SOURCE_CHARS = 200  # no source is cut shorter than this
MAX_TOKENS = 64
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
    """A generated answer and what grounds it."""

    question: str  # the question, stripped
    text: str  # the reply as generated (citations in brackets), or ABSTAIN_TEXT
    citations: tuple[str, ...]  # retrieved doc ids the reply cites, in order of first mention
    sources: tuple[dict[str, Any], ...]  # the hits passed in: {"doc_id", "title", "score"}
    abstained: bool  # True: nothing relevant was retrieved, and the model was not asked
    unknown_citations: tuple[str, ...] = field(default=())  # ids the reply cites that were not retrieved

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


def answer(
    question: str,
    hits: Sequence[Hit | Mapping[str, Any]],
    generator: Generator,
    *,
    min_score: float = 0.0,
    max_tokens: int = MAX_TOKENS,
) -> Answer:
    """The answer to `question` from `hits`, citing their doc ids, or an abstention when none is relevant.

    Args:
        question: the user's question (1 to MAX_QUERY_CHARS characters).
        hits: the retrieved chunks, best first (`Hit`s, or dicts with `doc_id` and `content`).
        generator: the model that writes the answer.
        min_score: abstain, without calling the model, when the best hit scores below this.
        max_tokens: the longest answer, in tokens.

    Raises:
        InvalidInput: an empty or oversized question, malformed hits, or max_tokens < 1.
    """
    text, hits = check_query(question), as_hits(hits)
    if max_tokens < 1:
        raise InvalidInput(f"max_tokens={max_tokens}; ask for at least 1 token (default {MAX_TOKENS}).")
    sources = tuple({"doc_id": h.doc_id, "title": h.title, "score": h.score} for h in hits)
    if not hits or max(h.score for h in hits) < min_score:
        return Answer(text, ABSTAIN_TEXT, (), sources, abstained=True)
    reply = generator.complete(prompt(text, hits), max_tokens).strip()
    retrieved = {h.doc_id for h in hits}
    cited = cited_ids(reply)
    known = tuple(i for i in cited if i in retrieved)
    unknown = tuple(i for i in cited if i not in retrieved)
    return Answer(text, reply, known, sources, abstained=False, unknown_citations=unknown)
