"""Sections of the Python 3.11 documentation, from the reStructuredText sources of Debian's `python3.11-doc`.

Sphinx copies each page's source to `_sources/<page>.rst.txt`. A section heading is a title line followed
by an underline of one punctuation character repeated at least as long as the title, optionally with an
identical overline above it. Heading levels follow the order in which a page first uses each style.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from aiprime.errors import DataCorrupt, DataSourceMissing

SOURCE_SUFFIX = ".rst.txt"
ADORNMENT_CHARS = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
PYDOCS_SCHEMA = pa.schema(
    [
        ("page", pa.string()),
        ("section_path", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
    ]
)
_HYPERLINK_TARGET = re.compile(r"^\.\. _[^:]*:\s*$", re.MULTILINE)  # `.. _label:` lines: anchors, not text


@dataclass(frozen=True)
class Heading:
    """A section heading found in a page's lines."""

    first_line: int  # index of the overline, or of the title without one
    body_start: int  # index of the line after the underline
    title: str
    style: tuple[str, bool]  # adornment character, has an overline


def is_adornment(line: str) -> bool:
    """Whether `line` is an RST title adornment: one punctuation character repeated, at least twice."""
    line = line.rstrip()
    return len(line) >= 2 and line[0] in ADORNMENT_CHARS and line == line[0] * len(line)


def heading_at(lines: list[str], i: int) -> Heading | None:
    """The heading whose title is `lines[i]`, or None if there is none there."""
    title = lines[i].strip()
    if i + 1 >= len(lines) or not title or is_adornment(title) or not is_adornment(lines[i + 1]):
        return None
    underline = lines[i + 1].rstrip()
    if len(underline) < len(title):
        return None
    above = lines[i - 1].rstrip() if i > 0 else ""
    before_overline = lines[i - 2].strip() if i > 1 else ""
    if above == underline and not before_overline:
        return Heading(i - 1, i + 2, title, (underline[0], True))
    # Without an overline the title must start a block, unindented; this keeps out literal blocks.
    if above.strip() or lines[i][0].isspace():
        return None
    return Heading(i, i + 2, title, (underline[0], False))


def find_headings(lines: list[str]) -> list[Heading]:
    """Every section heading of a page, in order."""
    headings = []
    i = 0
    while i < len(lines):
        heading = heading_at(lines, i)
        if heading is None:
            i += 1
            continue
        headings.append(heading)
        i = heading.body_start
    return headings


def split_sections(text: str) -> list[tuple[str, str, str]]:
    """The sections of one page as (section_path, title, body), in page order, without empty ones.

    The text before the first heading (labels, `module` directives) belongs to no section and is dropped.
    """
    lines = text.splitlines()
    headings = find_headings(lines)
    styles: list[tuple[str, bool]] = []
    path: list[tuple[int, str]] = []  # (level, title) from the page title down
    sections = []
    for heading, following in zip(headings, [*headings[1:], None], strict=False):
        if heading.style not in styles:
            styles.append(heading.style)
        level = styles.index(heading.style)
        path = [*[(lvl, title) for lvl, title in path if lvl < level], (level, heading.title)]
        end = following.first_line if following else len(lines)
        body = _HYPERLINK_TARGET.sub("", "\n".join(lines[heading.body_start : end])).strip()
        if body:
            sections.append((" > ".join(title for _, title in path), heading.title, body))
    return sections


def page_paths(sources_dir: Path) -> list[Path]:
    """Every `*.rst.txt` file under `sources_dir`, sorted by relative path."""
    return sorted(
        sources_dir.rglob(f"*{SOURCE_SUFFIX}"), key=lambda path: path.relative_to(sources_dir).as_posix()
    )


def page_name(path: Path, sources_dir: Path) -> str:
    """The page of a source file: its path under `sources_dir` without `.rst.txt`, e.g. `library/json`."""
    return path.relative_to(sources_dir).as_posix().removesuffix(SOURCE_SUFFIX)


def _require_sources_dir(sources_dir: Path) -> list[Path]:
    pages = page_paths(sources_dir) if sources_dir.is_dir() else []
    if not pages:
        raise DataSourceMissing(
            f"No Python docs sources (*.rst.txt) found under {sources_dir}. Install them with "
            "`apt-get install python3.11-doc`, or set AIPRIME_PYTHON_DOCS_DIR to a folder of .rst.txt files."
        )
    return pages


def parse_pydocs(sources_dir: Path) -> pd.DataFrame:
    """The sections of every page under a docs `_sources` folder (Debian's, or a raw copy).

    Returns:
        One row per non-empty section with the columns of `PYDOCS_SCHEMA`, sorted by page and then in page
        order. `text` is the section's own reStructuredText, without its subsections.

    Raises:
        DataSourceMissing: If the folder does not exist or holds no `.rst.txt` file.
        DataCorrupt: If a page is not UTF-8.
    """
    rows = []
    for path in _require_sources_dir(sources_dir):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataCorrupt(
                f"{path}: not UTF-8 ({e.reason}). "
                "Reinstall it with `apt-get install --reinstall python3.11-doc`."
            ) from e
        page = page_name(path, sources_dir)
        rows += [(page, *section) for section in split_sections(text)]
    return pd.DataFrame(rows, columns=PYDOCS_SCHEMA.names)


def copy_pydocs(sources_dir: Path, out_dir: Path, limit: int | None = None) -> None:
    """Copy the `.rst.txt` tree into `out_dir`, keeping the first `limit` pages in path order."""
    for path in _require_sources_dir(sources_dir)[:limit]:
        target = out_dir / path.relative_to(sources_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
