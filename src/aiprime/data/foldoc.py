"""FOLDOC, the Free On-line Dictionary of Computing, from Debian's `dict-foldoc` (dictd format).

`foldoc.dict.dz` is a dictzip file (gzip-readable) holding the articles one after another; `foldoc.index`
has one `word<TAB>offset<TAB>length` line per headword or alias, the numbers written in dictd's base64.
Several words can point at one article (`$` and `&#36;` both point at "dollar"); this module returns one row
per article. An article starts with its headword and alias lines, then a blank line, then the body indented
by three spaces. Cross-references are written `{like this}`, links `{text (target)}`.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from aiprime.errors import DataCorrupt, DataSourceMissing

DICTD_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
INTERNAL_PREFIX = "00-database-"  # dictd's own entries: database name, URL, info
PLAIN_DICT_NAME, PLAIN_INDEX_NAME = "foldoc.dict", "foldoc.index"  # names in a raw copy
FIX = (
    "Reinstall the source with `apt-get install --reinstall dict-foldoc` "
    "(or rerun `aiprime data stage raw` if this is a raw copy)"
)
FOLDOC_SCHEMA = pa.schema(
    [("term", pa.string()), ("body", pa.string()), ("cross_refs", pa.list_(pa.string()))]
)
_REFERENCE = re.compile(r"\{([^{}]*)\}")
_URL = re.compile(r"^(?:[a-z]+:|\S+\.html?$)")  # http://..., mailto:..., or a page of foldoc.org


@dataclass(frozen=True)
class IndexEntry:
    """One line of a dictd index: a word and the byte range of its article in the uncompressed dict."""

    word: str
    offset: int
    length: int


def decode_number(text: str) -> int:
    """A number written in dictd's base64 (most significant digit first, no padding).

    Raises:
        ValueError: If `text` is empty or has a character outside the alphabet.
    """
    if not text:
        raise ValueError("empty number")
    value = 0
    for char in text:
        digit = DICTD_BASE64.find(char)
        if digit < 0:
            raise ValueError(f"{char!r} is not a dictd base64 digit")
        value = value * 64 + digit
    return value


def encode_number(value: int) -> str:
    """`value` (>= 0) in dictd's base64, the inverse of `decode_number`."""
    digits = DICTD_BASE64[value % 64]
    while value >= 64:
        value //= 64
        digits = DICTD_BASE64[value % 64] + digits
    return digits


def index_path_for(dict_path: Path) -> Path:
    """The dictd index beside a dict file: `foldoc.dict.dz` and `foldoc.dict` both go with `foldoc.index`."""
    name = dict_path.name.removesuffix(".dz").removesuffix(".dict")
    return dict_path.with_name(name + ".index")


def _require_files(dict_path: Path, index_path: Path) -> None:
    missing = [str(path) for path in (dict_path, index_path) if not path.is_file()]
    if missing:
        raise DataSourceMissing(
            f"FOLDOC files not found: {', '.join(missing)}. Install them with `apt-get install dict-foldoc`, "
            "or set AIPRIME_FOLDOC_DICT to a foldoc.dict(.dz) that has its .index beside it."
        )


def read_index(index_path: Path) -> list[IndexEntry]:
    """Every line of a dictd index, in file order.

    Raises:
        DataCorrupt: Naming the line, if it is not `word<TAB>offset<TAB>length` in dictd base64.
    """
    entries = []
    text = index_path.read_text(encoding="utf-8", errors="strict")
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            word, offset, length = line.split("\t")
            entries.append(IndexEntry(word, decode_number(offset), decode_number(length)))
        except ValueError as e:
            raise DataCorrupt(f"{index_path}:{number}: not a dictd index line ({e}). {FIX}.") from e
    return entries


def read_dict(dict_path: Path) -> bytes:
    """The uncompressed bytes of a dict file, dictzip-compressed (gzip) or plain.

    Raises:
        DataCorrupt: If a compressed file is damaged or truncated.
    """
    data = dict_path.read_bytes()
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataCorrupt(f"{dict_path}: cannot decompress ({e}). {FIX}.") from e


def article_ranges(index: list[IndexEntry], size: int, index_path: Path) -> list[tuple[int, int]]:
    """The distinct (offset, length) of the articles, in file order, without dictd's internal entries.

    Raises:
        DataCorrupt: If an entry points past the end of the dict (`size` bytes).
    """
    ranges = {(entry.offset, entry.length) for entry in index if not entry.word.startswith(INTERNAL_PREFIX)}
    beyond = [(offset, length) for offset, length in ranges if offset + length > size]
    if beyond:
        raise DataCorrupt(
            f"{index_path}: {len(beyond)} entries point past the end of the dict ({size} bytes), e.g. "
            f"offset {beyond[0][0]}. The dict is truncated or belongs to another index. {FIX}."
        )
    return sorted(ranges)


def split_article(article: str) -> tuple[str, str]:
    """The headword and the body of an article: the headword block and the 3-space indent removed."""
    head, _, body = article.strip("\n").partition("\n\n")
    body = re.sub(r"^ {1,3}", "", body, flags=re.MULTILINE)
    return head.split("\n")[0].strip(), body.strip()


def _split_link(reference: str) -> tuple[str, str] | None:
    """`text (target)` as (text, target), or None if `reference` does not end with ` (...)`."""
    if not reference.endswith(")"):
        return None
    depth = 0
    for start in range(len(reference) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(reference[start], 0)
        if depth == 0:
            text, target = reference[:start], reference[start + 1 : -1].strip()
            # Links have a space before "(": `f(x)` is a term, not a link to "x".
            return (text.strip(), target) if text == "" or text.endswith(" ") else None
    return None


def _reference_target(reference: str) -> str | None:
    """The term that a `{...}` reference points at, or None for a link to a web page."""
    reference = " ".join(reference.split())
    link = _split_link(reference)
    if link is None:
        return reference or None
    return None if _URL.match(link[1]) else link[1] or None


def cross_refs(body: str) -> list[str]:
    """Terms that `body` cross-references as `{term}` or `{text (term)}`, in order, without repeats.

    Links to web pages (`{text (http://...)}`, `{text (page.html)}`) are not cross-references.
    """
    targets = (_reference_target(reference) for reference in _REFERENCE.findall(body))
    return list(dict.fromkeys(target for target in targets if target))


def plain_text(body: str) -> str:
    """`body` as plain text: `{term}` becomes `term`, `{text (target)}` becomes `text`."""

    def shown(match: re.Match[str]) -> str:
        reference = " ".join(match.group(1).split())
        link = _split_link(reference)
        return (link[0] or link[1]) if link else reference

    return _REFERENCE.sub(shown, body)


def parse_foldoc(dict_path: Path, index_path: Path | None = None) -> pd.DataFrame:
    """The entries of a FOLDOC dictd database (Debian's `foldoc.dict.dz`, or a raw copy's `foldoc.dict`).

    Args:
        dict_path: The dict file, gzip/dictzip-compressed or plain.
        index_path: Its index; by default the `.index` file beside it.

    Returns:
        One row per article in file order, with the columns of `FOLDOC_SCHEMA`: the headword as written
        (`term`), the `body` without the headword lines, and the body's `cross_refs`.

    Raises:
        DataSourceMissing: If the dict or its index does not exist.
        DataCorrupt: If the index is malformed, points past the dict, or an article is not UTF-8.
    """
    index_path = index_path or index_path_for(dict_path)
    _require_files(dict_path, index_path)
    data = read_dict(dict_path)
    rows = []
    for offset, length in article_ranges(read_index(index_path), len(data), index_path):
        try:
            term, body = split_article(data[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DataCorrupt(f"{dict_path}: the article at byte {offset} is not UTF-8. {FIX}.") from e
        rows.append({"term": term, "body": body, "cross_refs": cross_refs(body)})
    return pd.DataFrame(rows, columns=FOLDOC_SCHEMA.names)


def copy_foldoc(dict_path: Path, out_dir: Path, limit: int | None = None) -> None:
    """Write a plain `foldoc.dict` and its `foldoc.index` into `out_dir`, keeping the first `limit` articles.

    dictd's internal `00-database-*` entries are left out; index lines keep their order, with new offsets.
    """
    index_path = index_path_for(dict_path)
    _require_files(dict_path, index_path)
    data, index = read_dict(dict_path), read_index(index_path)
    kept = article_ranges(index, len(data), index_path)[:limit]
    new_offsets, position = {}, 0
    for offset, length in kept:
        new_offsets[offset, length] = position
        position += length
    kept_entries = (
        entry
        for entry in index
        if (entry.offset, entry.length) in new_offsets and not entry.word.startswith(INTERNAL_PREFIX)
    )
    lines = [
        f"{e.word}\t{encode_number(new_offsets[e.offset, e.length])}\t{encode_number(e.length)}\n"
        for e in kept_entries
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PLAIN_DICT_NAME).write_bytes(
        b"".join(data[offset : offset + length] for offset, length in kept)
    )
    (out_dir / PLAIN_INDEX_NAME).write_text("".join(lines), encoding="utf-8")
