"""The sense questions people send: a reader asks what a word means in a sentence.

The data's queries are WordNet example sentences with the synset's lemmas masked (`___`), made for the gate.
A user of a dictionary assistant instead names the word and shows where it appeared: `What does "courting"
mean in "We were courting for over ten years"?` The sentence and the word are the example as WordNet prints
it (`processed/synsets.parquet`), found again from the query id `q:<synset_id>:<example index>`. Retrieval
asks these questions (`aiprime.rag.evaluate`), and the gate trains on them (`aiprime.moe.dataset`), labelled
by the synset's lexicographer class and domain.

The gate reads a question together with its word (`word_of`): the quoted word says more about the domain
than the sentence around it. A text that is not a sense question (a gloss) is its own word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from aiprime.data.masking import lemma_pattern

QUESTION_START = re.compile(r'\s*what does "([^"]+)"', re.IGNORECASE)  # `What does "<word>"` opens a question


def sense_question(sentence: str, word: str) -> str:
    """`What does "<word>" mean in "<sentence>"?`"""
    return f'What does "{word}" mean in "{sentence}"?'


def question_for(sentence: str, lemmas: Sequence[str]) -> str:
    """The question about the first of `lemmas` (any inflection) found in `sentence`, else the first lemma."""
    pattern = lemma_pattern(lemmas)
    found = pattern.search(sentence) if pattern else None
    return sense_question(sentence, found.group(0) if found else lemmas[0])


def quoted_word(text: str) -> str | None:
    """The word a sense question asks about (`What does "<word>" mean ...`), or None for any other text."""
    found = QUESTION_START.match(text)
    return found.group(1) if found else None


def word_of(text: str) -> str:
    """The word the gate reads beside `text`: the quoted word of a sense question, else the text itself."""
    return quoted_word(text) or text


def example_index(query_id: str) -> int:
    """The example's position in its synset, from a query id `q:<synset_id>:<index>`."""
    return int(query_id.rsplit(":", 1)[1])


def questions_of(queries: pd.DataFrame, synsets: pd.DataFrame) -> list[str]:
    """The sense question of each query (`query_id`, `synset_id`), from the unmasked example in `synsets`.

    Args:
        queries: rows of `splits/queries.parquet`.
        synsets: `processed/synsets.parquet` indexed by `synset_id`, with `lemmas` and `examples`.
    """
    asked = []
    for query_id, synset_id in zip(queries.query_id, queries.synset_id, strict=True):
        lemmas, examples = synsets.loc[synset_id, ["lemmas", "examples"]]
        asked.append(question_for(examples[example_index(query_id)], list(lemmas)))
    return asked
