"""Reading the openclipart drawings' own titles and keywords in place."""

from __future__ import annotations

import pytest
from _helpers.image_pairs import drawing

from aiprime.errors import DataSourceMissing
from aiprime.multimodal.clipart import (
    MAX_SHARED_TITLE,
    MAX_SVG_BYTES,
    captioned,
    drawing_metadata,
    read_drawings,
)


def test_the_works_title_and_keywords_not_an_agents(tmp_path):
    (tmp_path / "frog.svg").write_text(
        drawing(" Green   frog ", ("animal", "unsorted", "frog"), agent_first=True)
    )
    assert drawing_metadata(tmp_path / "frog.svg") == ("Green frog", ("animal", "frog"))
    (tmp_path / "anon.svg").write_text(drawing(None, ("animal",)))
    assert drawing_metadata(tmp_path / "anon.svg") == ("", ("animal",))


def test_damaged_or_entity_laden_files_have_no_title(tmp_path):
    (tmp_path / "cut.svg").write_text(drawing("Frog")[:120])
    bomb = '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]>' + drawing("&a;")
    (tmp_path / "bomb.svg").write_text(bomb)
    assert drawing_metadata(tmp_path / "cut.svg") == ("", ())
    assert drawing_metadata(tmp_path / "bomb.svg") == ("", ())


def test_reads_titled_drawings_within_the_size_bound_sorted(tmp_path):
    (tmp_path / "food").mkdir()
    (tmp_path / "food" / "pizza.svg").write_text(drawing("Pizza_Slice", ("food",)))
    (tmp_path / "animal.svg").write_text(drawing("Frog"))
    (tmp_path / "untitled.svg").write_text(drawing(None))
    huge = drawing("Huge").replace("</svg>", "<!--" + "x" * MAX_SVG_BYTES + "--></svg>")
    (tmp_path / "huge.svg").write_text(huge)
    drawings = read_drawings(tmp_path)
    assert [(d.name, d.title) for d in drawings] == [("animal", "Frog"), ("food/pizza", "Pizza_Slice")]
    assert drawings[1].caption() == "Pizza Slice"


def test_a_missing_folder_names_the_package(tmp_path):
    with pytest.raises(DataSourceMissing, match="apt-get install openclipart-svg"):
        read_drawings(tmp_path / "absent")


def test_a_title_that_names_a_collection_is_no_caption(tmp_path):
    for i in range(MAX_SHARED_TITLE + 1):
        (tmp_path / f"icon_{i}.svg").write_text(drawing("Flat_Icon_Collection"))
    for i in range(MAX_SHARED_TITLE):
        (tmp_path / f"tree_{i}.svg").write_text(drawing("Christmas tree"))
    (tmp_path / "frog.svg").write_text(drawing("Frog"))
    kept = captioned(read_drawings(tmp_path))
    assert sorted({d.title for d in kept}) == ["Christmas tree", "Frog"]
    assert len(kept) == MAX_SHARED_TITLE + 1
