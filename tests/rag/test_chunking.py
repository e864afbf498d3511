"""Chunking rules: whole entries for WordNet and FOLDOC, Python docs packed by paragraph under the budget."""

from __future__ import annotations

import pytest

from aiprime.errors import InvalidInput
from aiprime.rag.chunking import MAX_TOKENS, Chunk, chunk_document, model_token_counter, paragraphs


def words(text: str) -> int:
    """A token counter that is easy to compute by hand: one token per whitespace-separated word."""
    return len(text.split())


@pytest.mark.parametrize("source", ["wordnet", "foldoc"])
def test_dictionary_entries_stay_whole_however_long(source: str) -> None:
    text = "\n\n".join(f"paragraph {i} " + "word " * 100 for i in range(10))

    chunks = chunk_document(source, "Entry", text, max_tokens=20, count_tokens=words)

    assert chunks == [Chunk(0, f"Entry\n{text.strip()}")]


def test_paragraphs_are_packed_greedily_under_the_budget_with_the_title_counted() -> None:
    text = "a b c\n\nd e\n\nf g h i"  # 3, 2 and 4 words; the title takes 1 of the 7

    chunks = chunk_document("pydocs", "T", text, max_tokens=7, count_tokens=words)

    assert chunks == [Chunk(0, "T\na b c\n\nd e"), Chunk(1, "T\nf g h i")]


def test_a_paragraph_over_the_budget_is_split_at_line_ends() -> None:
    text = "intro\n\nl1 w w\nl2 w w\nl3 w w\n\noutro"  # the middle paragraph has 9 words

    chunks = chunk_document("pydocs", "T", text, max_tokens=7, count_tokens=words)

    assert [c.content for c in chunks] == ["T\nintro", "T\nl1 w w\nl2 w w", "T\nl3 w w\n\noutro"]


def test_a_line_over_the_budget_is_split_between_words_never_inside_one() -> None:
    line = " ".join(f"word{i}" for i in range(13))

    chunks = chunk_document("pydocs", "T", line, max_tokens=6, count_tokens=words)

    bodies = [c.content.split("\n", 1)[1] for c in chunks]
    assert bodies == [" ".join(f"word{i}" for i in range(j, min(j + 5, 13))) for j in (0, 5, 10)]


def test_blank_lines_with_spaces_separate_paragraphs_and_indentation_is_kept() -> None:
    assert paragraphs("\n\nfirst\n  \n\n   .. note::\n\n      indented\n\n") == [
        "first",
        "   .. note::",
        "      indented",
    ]


def test_a_budget_mostly_taken_by_the_title_names_the_minimum() -> None:
    with pytest.raises(InvalidInput, match=r"max_tokens=10 leaves 4 .* raise it to at least 12"):
        chunk_document("pydocs", "a title made of six words", "body", max_tokens=10, count_tokens=words)


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Unknown document source 'jargon'"):
        chunk_document("jargon", "t", "x", count_tokens=words)


def test_real_sections_fit_the_model_and_lose_no_text(tiny_corpus) -> None:
    count = model_token_counter()
    sections = [d for d in tiny_corpus if d.source == "pydocs"]

    split = [(doc, chunk_document(doc.source, doc.title, doc.text)) for doc in sections]

    assert any(len(chunks) > 1 for _, chunks in split), "the slice should hold sections longer than one chunk"
    for doc, chunks in split:
        assert all(count(c.content) <= MAX_TOKENS for c in chunks), doc.doc_id
        assert all(c.content.startswith(doc.title + "\n") for c in chunks)
        bodies = " ".join(c.content[len(doc.title) + 1 :] for c in chunks)
        assert bodies.split() == doc.text.split(), doc.doc_id
