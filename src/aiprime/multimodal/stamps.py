"""The Tux Paint stamps (Debian `tuxpaint-stamps-default`, GPL-2): images with English captions, read in place.

Each stamp is an image (`NAME.png`, or `NAME.svg` where no PNG exists) beside `NAME.txt`, whose first line is
the English caption and whose other lines are translations (`xx.utf8=...`). The package is GPL-2, so it is
read where Debian installs it and never copied into the repository. Folds are caption-disjoint: a stamp's
fold is a hash of its normalised caption, so stamps sharing a caption ("A flower.") always share a fold and
no caption is seen in training and in test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiprime.errors import DataSourceMissing

STAMPS_PACKAGE = "tuxpaint-stamps-default"
IMAGE_SUFFIXES = (".png", ".svg")  # in order of preference when a stamp has both
FOLDS = 5


@dataclass(frozen=True)
class Stamp:
    """One stamp image and its English caption."""

    name: str  # path below the stamps folder, without suffix, e.g. "animals/amphibians/frog"
    image: Path  # the PNG, or the SVG where no PNG exists
    caption: str  # the first line of NAME.txt
    fold: int  # 0..FOLDS-1, from the caption alone


def caption_fold(caption: str, folds: int = FOLDS) -> int:
    """The fold of a caption: sha256 of its lower-cased, whitespace-collapsed text modulo `folds`."""
    key = " ".join(caption.lower().split())
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % folds


def english_caption(text_file: Path) -> str:
    """The first non-empty line of a stamp's `.txt` file (the English caption), or "" if there is none."""
    for line in text_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _image_of(stem: Path) -> Path | None:
    return next((p for s in IMAGE_SUFFIXES if (p := stem.with_suffix(s)).is_file()), None)


def require_installed(folder: Path, what: str, package: str, setting: str) -> None:
    """Raise DataSourceMissing naming the Debian package that installs `folder` and the setting that moves it."""
    if not folder.is_dir():
        raise DataSourceMissing(
            f"{what} not found at {folder}. Run `sudo apt-get install {package}` (`make setup` does) or set "
            f"{setting}."
        )


def read_stamps(stamps_dir: Path) -> list[Stamp]:
    """Every captioned stamp image under `stamps_dir`, sorted by name.

    Raises:
        DataSourceMissing: The folder is absent (the Debian package is not installed).
    """
    require_installed(stamps_dir, "Tux Paint stamps", STAMPS_PACKAGE, "AIPRIME_STAMPS_DIR")
    stamps = []
    for text_file in sorted(stamps_dir.rglob("*.txt")):
        stem = text_file.with_suffix("")
        image, caption = _image_of(stem), english_caption(text_file)
        if image and caption:
            name = stem.relative_to(stamps_dir).as_posix()
            stamps.append(Stamp(name, image, caption, caption_fold(caption)))
    return stamps


def fold_roles(test_fold: int, folds: int = FOLDS) -> dict[int, str]:
    """Each fold's role when `test_fold` is tested: the next fold validates, the rest train."""
    val_fold = (test_fold + 1) % folds
    return {f: "test" if f == test_fold else "val" if f == val_fold else "train" for f in range(folds)}
