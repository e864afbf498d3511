from __future__ import annotations

import gzip

import pytest

from aiprime.data.foldoc import (
    copy_foldoc,
    cross_refs,
    decode_number,
    encode_number,
    parse_foldoc,
    plain_text,
    read_index,
)
from aiprime.errors import DataCorrupt, DataSourceMissing


@pytest.fixture(scope="module")
def entries(debian_sources):
    return parse_foldoc(debian_sources.foldoc_dict)


def test_dictd_numbers_round_trip():
    assert decode_number("A") == 0
    assert decode_number("BA") == 64
    assert [decode_number(encode_number(n)) for n in (0, 1, 63, 64, 4095, 5578723)] == [
        0, 1, 63, 64, 4095, 5578723,
    ]  # fmt: skip


def test_real_dictionary_has_one_row_per_article_without_dictd_entries(entries, debian_sources):
    index_words = [entry.word for entry in read_index(debian_sources.foldoc_dict.with_name("foldoc.index"))]

    assert len(entries) > 12000
    assert len(entries) < len(index_words)  # aliases such as "&#36;" share the "dollar" article
    assert not entries.term.str.startswith("00-database").any()
    assert (entries.body != "").all()


def test_python_entry_has_body_without_headword_and_its_cross_refs(entries):
    python = entries[entries.term == "Python"].iloc[0]

    assert python.body.startswith("1. <language> A simple, high-level interpreted language")
    assert python.cross_refs[:4] == ["ABC", "C", "Modula-3", "Icon"]


@pytest.mark.parametrize(
    ("body", "refs", "plain"),
    [
        ("see {ABC} and {C}, {ABC}", ["ABC", "C"], "see ABC and C, ABC"),
        ("{exclamation\n   marks}", ["exclamation marks"], "exclamation marks"),
        ("{left (left parenthesis)}", ["left parenthesis"], "left"),
        ("{wiki entry\n   (http://esolangs.org/wiki/(()))}", [], "wiki entry"),
        ("{More about FOLDOC (about.html)}", [], "More about FOLDOC"),
        ("{(http://wikipedia.org/)}", [], "http://wikipedia.org/"),
        ("{f(x)}", ["f(x)"], "f(x)"),
    ],
)
def test_cross_refs_are_terms_and_links_are_not(body, refs, plain):
    assert cross_refs(body) == refs
    assert plain_text(body) == plain


def test_subset_copy_parses_to_the_first_entries(entries, debian_sources, tmp_path):
    copy_foldoc(debian_sources.foldoc_dict, tmp_path, limit=20)

    subset = parse_foldoc(tmp_path / "foldoc.dict")

    assert subset.to_dict("records") == entries.head(20).to_dict("records")
    assert (
        gzip.decompress(debian_sources.foldoc_dict.read_bytes()).find((tmp_path / "foldoc.dict").read_bytes())
        > 0
    )


def test_truncated_dictzip_is_corrupt(debian_sources, tmp_path):
    data = debian_sources.foldoc_dict.read_bytes()
    (tmp_path / "foldoc.dict.dz").write_bytes(data[: len(data) // 3])
    (tmp_path / "foldoc.index").write_bytes(debian_sources.foldoc_dict.with_name("foldoc.index").read_bytes())

    with pytest.raises(DataCorrupt, match="apt-get install --reinstall dict-foldoc"):
        parse_foldoc(tmp_path / "foldoc.dict.dz")


def test_index_pointing_past_the_dict_is_corrupt(debian_sources, tmp_path):
    copy_foldoc(debian_sources.foldoc_dict, tmp_path, limit=5)
    (tmp_path / "foldoc.dict").write_bytes((tmp_path / "foldoc.dict").read_bytes()[:100])

    with pytest.raises(DataCorrupt, match="past the end of the dict"):
        parse_foldoc(tmp_path / "foldoc.dict")


def test_missing_dictionary_says_how_to_install(tmp_path):
    with pytest.raises(DataSourceMissing, match=r"apt-get install dict-foldoc.*AIPRIME_FOLDOC_DICT"):
        parse_foldoc(tmp_path / "foldoc.dict.dz")
