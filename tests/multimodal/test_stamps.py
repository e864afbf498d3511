"""Reading Tux Paint stamps in place, and their caption-disjoint folds."""

from __future__ import annotations

import pytest
from _helpers.image_pairs import write_stamp

from aiprime.errors import DataSourceMissing
from aiprime.multimodal.stamps import FOLDS, caption_fold, fold_roles, read_stamps


def test_reads_captioned_images_preferring_png_and_skips_the_rest(tmp_path):
    write_stamp(tmp_path / "animals", "frog", "A frog.")
    write_stamp(tmp_path / "food", "bread", "A loaf of bread.", (".svg",))
    write_stamp(tmp_path / "food", "pizza", "A pizza.", (".png", ".svg"))
    write_stamp(tmp_path / "misc", "uncaptioned", None)
    (tmp_path / "misc" / "gift.txt").write_text("A gift with no image.")
    stamps = read_stamps(tmp_path)
    assert [(s.name, s.image.suffix, s.caption) for s in stamps] == [
        ("animals/frog", ".png", "A frog."),
        ("food/bread", ".svg", "A loaf of bread."),
        ("food/pizza", ".png", "A pizza."),
    ]


def test_the_same_caption_always_lands_in_the_same_fold(tmp_path):
    for name in ("flower", "flower-2", "flower-3"):
        write_stamp(tmp_path / "nature", name, "A flower.")
    write_stamp(tmp_path / "nature", "flower-4", "  a   FLOWER. ")
    assert len({s.fold for s in read_stamps(tmp_path)}) == 1
    assert all(0 <= caption_fold(f"caption {i}") < FOLDS for i in range(50))
    assert len({caption_fold(f"caption {i}") for i in range(50)}) == FOLDS


def test_each_fold_is_tested_once_and_validates_the_next():
    roles = [fold_roles(k) for k in range(FOLDS)]
    assert [r[k] for k, r in enumerate(roles)] == ["test"] * FOLDS
    assert [r[(k + 1) % FOLDS] for k, r in enumerate(roles)] == ["val"] * FOLDS
    assert all(list(r.values()).count("train") == FOLDS - 2 for r in roles)


def test_missing_package_says_how_to_install_it(tmp_path):
    with pytest.raises(DataSourceMissing, match="apt-get install tuxpaint-stamps-default"):
        read_stamps(tmp_path / "absent")
