from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from aiprime.data.domains import DOMAINS, domains_of, load_domains
from aiprime.data.masking import MASK, mask_lemmas
from aiprime.data.splits import split_of
from aiprime.data.tasks import retrieval_documents, retrieval_queries, slugify, unique_ids
from aiprime.data.wordnet import WORDNET30_LEXNAMES
from aiprime.errors import DataCorrupt


@pytest.mark.parametrize(
    ("sentence", "lemmas", "masked"),
    [
        ("the dog barked all night", ["dog", "domestic dog"], "the ___ barked all night"),
        ("Dogs and DOGS, not dogma", ["dog"], "___ and ___, not dogma"),
        ("he ate two hot dogs and a hot-dog", ["hot dog", "dog"], "he ate two ___ and a ___"),
        ("she picked up the kids", ["pick up"], "she ___ the kids"),
        ("making, made, makes", ["make"], "___, made, ___"),
        ("they carried it; it carries", ["carry"], "they ___ it; it ___"),
        ("stopped and stopping", ["stop"], "___ and ___"),
        ("boxes and washes", ["box", "wash"], "___ and ___"),
        ("the geese flew", ["goose"], "the geese flew"),
        ("C++ code", ["C++"], "___ code"),
    ],
)
def test_masks_lemmas_as_whole_words_with_simple_inflections(sentence, lemmas, masked):
    assert mask_lemmas(sentence, lemmas) == (masked, masked.count(MASK))


def test_split_is_deterministic_and_80_10_10():
    keys = [f"n{number:08d}" for number in range(20000)]

    counts = Counter(split_of(key) for key in keys)

    assert [split_of(key) for key in keys[:100]] == [split_of(key) for key in keys[:100]]
    assert split_of("n02084071") == "train"  # fixed forever: changing the rule moves every example
    assert abs(counts["train"] / len(keys) - 0.8) < 0.01
    assert abs(counts["val"] / len(keys) - 0.1) < 0.01
    assert abs(counts["test"] / len(keys) - 0.1) < 0.01


def test_domain_table_maps_all_45_lexnames_to_6_domains():
    table = load_domains()

    assert sorted(table.lexname) == sorted(WORDNET30_LEXNAMES)
    assert set(table.domain) == set(DOMAINS)
    assert table.domain.value_counts().min() >= 2
    assert (table.note.str.strip() != "").all()
    by_class = dict(zip(table.lexname, table.domain, strict=True))
    assert {by_class[name] for name in WORDNET30_LEXNAMES if name.startswith("verb.")} == {"actions"}
    assert {by_class[name] for name in WORDNET30_LEXNAMES if name.startswith(("adj.", "adv."))} == {
        "qualities"
    }
    assert by_class["noun.animal"] == "living"
    assert by_class["noun.artifact"] == "artifacts"


def test_unmapped_lexname_is_named_in_the_error():
    with pytest.raises(DataCorrupt, match=r"noun\.dragons.*domains\.csv"):
        domains_of(pd.Series(["noun.animal", "noun.dragons"]))


def test_domain_table_with_a_one_class_domain_is_rejected(tmp_path):
    table = load_domains()
    table.loc[table.lexname == "noun.substance", "domain"] = "abstractions"
    table.to_csv(tmp_path / "domains.csv", index=False)

    with pytest.raises(DataCorrupt, match=r"fewer than 2 classes: \['artifacts'\]"):
        load_domains(tmp_path / "domains.csv")


def test_unique_ids_number_repeats_in_order():
    assert unique_ids(["a", "b", "a", "a~2", "a"]) == ["a", "b", "a~3", "a~2", "a~4"]


def test_slug_drops_roles_and_punctuation():
    assert slugify(":mod:`json` --- JSON encoder and decoder") == "json-json-encoder-and-decoder"


def _synsets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "synset_id": ["n02084071", "v01234567"],
            "lemmas": [["dog", "domestic dog"], ["run"]],
            "gloss": ["a member of the genus Canis", "move fast"],
            "examples": [["the dog barked"], ["he ran home", "she runs daily"]],
        }
    )


def test_queries_keep_examples_with_a_masked_lemma():
    queries = retrieval_queries(_synsets())

    assert queries.to_dict("records") == [
        {"query_id": "q:n02084071:0", "synset_id": "n02084071", "text": "the ___ barked", "split": "train"},
        {
            "query_id": "q:v01234567:1",
            "synset_id": "v01234567",
            "text": "she ___ daily",
            "split": split_of("v01234567"),
        },
    ]


def test_documents_have_unique_ids_from_all_sources():
    foldoc = pd.DataFrame({"term": ["A4C", "A4C"], "body": ["{x}", "y"], "cross_refs": [["x"], []]})
    pydocs = pd.DataFrame(
        {
            "page": ["p", "p"],
            "section_path": ["T > Ex", "T > B > Ex"],
            "title": ["Ex", "Ex"],
            "text": ["a", "b"],
        }
    )

    documents = retrieval_documents(_synsets(), foldoc, pydocs)

    assert documents.doc_id.tolist() == [
        "foldoc:A4C", "foldoc:A4C~2", "pydoc:p#ex", "pydoc:p#ex~2", "wn:n02084071", "wn:v01234567",
    ]  # fmt: skip
    assert documents.set_index("doc_id").loc["wn:n02084071", "synset_id"] == "n02084071"
    assert documents.set_index("doc_id").loc["foldoc:A4C", "text"] == "x"
