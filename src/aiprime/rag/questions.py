"""The retrieval task's questions: a reader asks what a word means in a sentence.

The data's queries are WordNet example sentences with the synset's lemmas masked (`___`), made for the gate.
For retrieval that is a riddle: "___ loyalty" must find "perfect or complete or pure". A user of a dictionary
assistant instead names the word and shows where it appeared: `What does "courting" mean in "We were courting
for over ten years"?` The relevant document is the synset whose sense the sentence uses, so the other senses
of the same word are the hard negatives. The sentence and the word are the example as WordNet prints it
(`processed/synsets.parquet`), found again from the query id `q:<synset_id>:<example index>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiprime.data.masking import lemma_pattern


def sense_question(sentence: str, word: str) -> str:
    """`What does "<word>" mean in "<sentence>"?`"""
    return f'What does "{word}" mean in "{sentence}"?'


def question_for(sentence: str, lemmas: Sequence[str]) -> str:
    """The question about the first of `lemmas` (any inflection) found in `sentence`, else the first lemma."""
    pattern = lemma_pattern(lemmas)
    found = pattern.search(sentence) if pattern else None
    return sense_question(sentence, found.group(0) if found else lemmas[0])


def example_index(query_id: str) -> int:
    """The example's position in its synset, from a query id `q:<synset_id>:<index>`."""
    return int(query_id.rsplit(":", 1)[1])
