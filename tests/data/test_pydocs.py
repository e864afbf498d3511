from __future__ import annotations

import shutil

import pytest

from aiprime.data.pydocs import copy_pydocs, parse_pydocs, split_sections
from aiprime.errors import DataSourceMissing

PAGE = """\
.. _label:

=========
Overlined
=========

Intro text.

First
-----

Body of first.

Example::

    ====
    not a heading (literal block)
    ====

--------------

Nested
^^^^^^
Nested text.

.. _target-only:

Empty
-----

.. _target-only-too:

Second
------
Body of second.
"""


def test_headings_nest_by_style_order_and_empty_sections_are_dropped():
    sections = split_sections(PAGE)

    assert [path for path, _, _ in sections] == [
        "Overlined",
        "Overlined > First",
        "Overlined > First > Nested",
        "Overlined > Second",
    ]
    assert sections[1][2].startswith("Body of first.")
    assert "not a heading (literal block)" in sections[1][2]
    assert sections[3] == ("Overlined > Second", "Second", "Body of second.")


def test_underline_shorter_than_title_is_not_a_heading():
    assert split_sections("Title\n=====\n\nA longer line\n----\nmore\n") == [
        ("Title", "Title", "A longer line\n----\nmore")
    ]


def test_real_json_page_sections(debian_sources, tmp_path):
    (tmp_path / "library").mkdir()
    shutil.copy(
        debian_sources.python_docs_dir / "library" / "json.rst.txt", tmp_path / "library" / "json.rst.txt"
    )

    sections = parse_pydocs(tmp_path)

    assert set(sections.page) == {"library/json"}
    assert sections.section_path.iloc[0] == ":mod:`json` --- JSON encoder and decoder"
    usage = sections[sections.title == "Basic Usage"].iloc[0]
    assert usage.section_path == ":mod:`json` --- JSON encoder and decoder > Basic Usage"
    assert ".. function:: dump(" in usage.text
    assert (sections.text.str.strip() != "").all()


def test_subset_copy_keeps_the_first_pages_by_path(debian_sources, tmp_path):
    copy_pydocs(debian_sources.python_docs_dir, tmp_path, limit=3)

    copied = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.rst.txt"))

    assert len(copied) == 3
    assert set(parse_pydocs(tmp_path).page) <= {name.removesuffix(".rst.txt") for name in copied}


def test_missing_sources_say_how_to_install(tmp_path):
    with pytest.raises(DataSourceMissing, match=r"apt-get install python3\.11-doc.*AIPRIME_PYTHON_DOCS_DIR"):
        parse_pydocs(tmp_path)
