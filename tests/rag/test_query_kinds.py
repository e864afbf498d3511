"""Query kinds: told apart by form; definition, keyword and code queries built from documents, split by target."""

from __future__ import annotations

import pandas as pd
import pytest

from aiprime.errors import InvalidInput
from aiprime.rag import query_kinds as qk

DOCUMENTS = pd.DataFrame(
    [
        (
            "wn:n1",
            "wordnet",
            "dog, domestic dog",
            "a member of the genus Canis that has been domesticated by man",
        ),
        (
            "wn:n2",
            "wordnet",
            "hound, hound dog",
            "any of several breeds of dog used for hunting typically having ears",
        ),
        (
            "foldoc:Lisp",
            "foldoc",
            "Lisp",
            "<language> A list processing language invented by John McCarthy. More.",
        ),
        (
            "pydoc:library/os.path#os-path",
            "pydocs",
            "os.path",
            (
                ".. module:: os.path\n\n.. function:: join(path, *paths)\n\n   Join paths.\n\n"
                ".. function:: split(path)\n"
            ),
        ),
        ("pydoc:library/os.path#more", "pydocs", "os.path > More", ".. function:: normcase(path)\n"),
        ("pydoc:c-api/call#call", "pydocs", "Call", ".. c:function:: PyObject* PyObject_Call(PyObject *c)\n"),
        ("pydoc:library/functools#f", "pydocs", "functools", ".. decorator:: functools.lru_cache(maxsize)\n"),
    ],
    columns=["doc_id", "source", "title", "text"],
)
SYNSETS = pd.DataFrame(
    {"synset_id": ["n9", "n8"], "lemmas": [["member", "fellow"], ["hunting", "hunt"]]},
)


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ('What does "bank" mean in "the bank of the river"?', "sense"),
        ("os.path.join", "code"),
        ("functools.lru_cache", "code"),
        ("PyObject_Call", "code"),
        ("getLogger", "code"),
        ("river bank erosion", "keyword"),
        ("dog", "keyword"),
        ("a member of the genus canis", "definition"),
    ],
)
def test_a_query_kind_is_told_by_its_form(query: str, kind: str) -> None:
    assert qk.query_kind(query) == kind


def test_code_queries_name_each_directive_with_its_module() -> None:
    queries = qk.code_queries(DOCUMENTS)

    assert dict(zip(queries.question, queries.relevant, strict=True)) == {
        "os.path.join": "pydoc:library/os.path#os-path",
        "os.path.split": "pydoc:library/os.path#os-path",
        "os.path.normcase": "pydoc:library/os.path#more",  # the module stated in the page's first section
        "PyObject_Call": "pydoc:c-api/call#call",
        "functools.lru_cache": "pydoc:library/functools#f",
    }
    assert set(queries.kind) == {"code"}


def test_definition_queries_never_name_their_title() -> None:
    queries = qk.definition_queries(DOCUMENTS, SYNSETS, seed=0)

    assert set(queries.relevant) == {"wn:n1", "wn:n2", "foldoc:Lisp"}
    for query, doc_id in zip(queries.question, queries.relevant, strict=True):
        title = DOCUMENTS.set_index("doc_id").title[doc_id]
        assert not qk.title_words(title) & set(query.split()), query
        assert qk.query_kind(query) == "definition"
    assert "more" not in queries.set_index("relevant").question["foldoc:Lisp"]  # its first sentence only


def test_keyword_queries_are_two_to_four_content_words_not_in_the_title() -> None:
    queries = qk.keyword_queries(DOCUMENTS[DOCUMENTS.source == "wordnet"], seed=0)

    for query, doc_id in zip(queries.question, queries.relevant, strict=True):
        words = query.split()
        assert 2 <= len(words) <= 4
        assert not qk.title_words(DOCUMENTS.set_index("doc_id").title[doc_id]) & set(words)
        assert qk.query_kind(query) == "keyword"


def test_the_split_is_fixed_by_the_target_so_val_and_test_never_share_a_document() -> None:
    ids = [f"wn:{i}" for i in range(400)]
    splits = {doc: qk.split_of(doc) for doc in ids}

    assert splits == {doc: qk.split_of(doc) for doc in ids}  # stable
    assert 150 < sum(s == "val" for s in splits.values()) < 250


def test_built_queries_keep_only_stored_targets_of_the_split(tiny_splits) -> None:
    documents = pd.read_parquet(tiny_splits / "documents.parquet")
    stored = set(documents.doc_id[::2])

    for kind in ("definition", "keyword"):
        val = qk.built_queries(tiny_splits, kind, "val", 50, 0, stored)
        test = qk.built_queries(tiny_splits, kind, "test", 50, 0, stored)
        assert set(val.relevant) <= stored and set(test.relevant) <= stored
        assert not set(val.relevant) & set(test.relevant)
        assert len(val) and len(test)


def test_an_unknown_kind_is_refused_with_the_choices(tiny_splits) -> None:
    with pytest.raises(InvalidInput, match="kind='riddle'"):
        qk.built_queries(tiny_splits, "riddle", "test", 10, 0, set())
