"""WordNet 3.0 synsets from the database files of Debian's `wordnet-base`.

Each line of `data.noun|verb|adj|adv` is one synset (format: wndb(5WN)):
`offset lex_filenum ss_type w_cnt (word lex_id)... p_cnt (symbol offset pos src_tgt)... [frames] | gloss`.
The file starts with a licence header whose lines start with two spaces, and every synset's offset is the
byte position of its own line, which lets us catch a damaged file early.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from aiprime.errors import DataCorrupt, DataSourceMissing, InvalidInput

DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
LEXNAMES_FILE = "lexnames"
# Upstream WordNet ships `lexnames`, Debian's wordnet-base does not; this is the table of lexnames(5WN),
# indexed by lexicographer file number. A `lexnames` file beside the data files takes precedence.
WORDNET30_LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)  # fmt: skip
SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}  # third column of `lexnames`
FIX = (
    "Reinstall the source with `apt-get install --reinstall wordnet-base` "
    "(or rerun `aiprime data stage raw` if this is a raw copy)"
)
SYNSETS_SCHEMA = pa.schema(
    [
        ("synset_id", pa.string()),
        ("pos", pa.string()),
        ("lexname", pa.string()),
        ("lemmas", pa.list_(pa.string())),
        ("gloss", pa.string()),
        ("examples", pa.list_(pa.string())),
        ("relations", pa.list_(pa.string())),
    ]
)
_ADJECTIVE_MARKER = re.compile(r"\((?:a|p|ip)\)$")
_EXAMPLE = re.compile(r'"([^"]*)(?:"|$)')
_EXAMPLES_START = re.compile(r'(?:^|[;:,])\s*"')  # the first quote that opens the list of examples


def synset_id(pos: str, offset: str) -> str:
    """The id of a synset: its part of speech (satellites `s` count as `a`) and its 8-digit offset."""
    return ("a" if pos == "s" else pos) + offset


def split_gloss(gloss: str) -> tuple[str, list[str]]:
    """Split a WordNet gloss into its definition and its quoted example sentences.

    Examples follow the definition as `; "example"; "another"` (a few glosses use `:` or `,`);
    quotes inside the definition, as in `as in "slain warriors"`, stay there.

    Returns:
        The definition, and the examples without their quotes (attributions after a quote are dropped).
    """
    gloss = gloss.strip()
    opening = _EXAMPLES_START.search(gloss)
    if opening is None:
        return gloss, []
    quoted = (text.strip() for text in _EXAMPLE.findall(gloss[opening.start() :]))
    # A stray quote pairs up the wrong way and leaves bits like ";" behind: keep only texts with a letter.
    return gloss[: opening.start()].strip(" ;:,"), [text for text in quoted if re.search(r"\w", text)]


def _lemmas(tokens: list[str]) -> tuple[list[str], int]:
    """Lemmas from the `w_cnt word lex_id ...` fields at the start of `tokens`, and the tokens used."""
    count = int(tokens[0], 16)
    words = tokens[1 : 1 + 2 * count : 2]
    if count == 0 or len(words) != count:
        raise ValueError(f"expected {count} words, found {len(words)}")
    return [_ADJECTIVE_MARKER.sub("", word).replace("_", " ") for word in words], 1 + 2 * count


def _relations(tokens: list[str]) -> tuple[list[str], int]:
    """Relations `symbol:target_id` from the `p_cnt (symbol offset pos src_tgt)...` fields; tokens used."""
    count = int(tokens[0])
    fields = tokens[1 : 1 + 4 * count]
    if len(fields) != 4 * count:
        raise ValueError(f"expected {count} pointers, found {len(fields) // 4}")
    relations = []
    for symbol, offset, pos, _ in zip(*[iter(fields)] * 4, strict=True):
        if not (offset.isdigit() and len(offset) == 8 and pos in "nvasr"):
            raise ValueError(f"bad pointer {symbol} {offset} {pos}")
        relations.append(f"{symbol}:{synset_id(pos, offset)}")
    return relations, 1 + 4 * count


def _verb_frames_length(tokens: list[str]) -> int:
    """How many tokens the verb frame list `f_cnt (+ f_num w_num)...` takes."""
    count = int(tokens[0])
    if tokens[1 : 1 + 3 * count : 3] != ["+"] * count:
        raise ValueError(f"expected {count} verb frames")
    return 1 + 3 * count


def parse_data_line(line: str, byte_offset: int, lexnames: tuple[str, ...]) -> dict:
    """One synset from one line of a `data.*` file.

    Raises:
        ValueError: Naming what is wrong with the line (the caller adds the file and line number).
    """
    head, separator, gloss = line.partition(" | ")
    tokens = head.split()
    if not separator or len(tokens) < 6:
        raise ValueError("line is truncated (no ' | gloss' part)")
    offset, lex_filenum, pos = tokens[0], int(tokens[1]), tokens[2]
    if offset != f"{byte_offset:08d}":
        raise ValueError(f"synset offset {offset} is not the line's byte position {byte_offset}")
    lemmas, used = _lemmas(tokens[3:])
    relations, used_by_pointers = _relations(tokens[3 + used :])
    rest = tokens[3 + used + used_by_pointers :]
    if pos == "v" and rest:
        rest = rest[_verb_frames_length(rest) :]
    if rest:
        raise ValueError(f"unexpected fields {' '.join(rest[:4])!r}")
    definition, examples = split_gloss(gloss)
    return {
        "synset_id": synset_id(pos, offset),
        "pos": "a" if pos == "s" else pos,
        "lexname": lexnames[lex_filenum],
        "lemmas": lemmas,
        "gloss": definition,
        "examples": examples,
        "relations": relations,
    }


def iter_data_lines(path: Path) -> Iterator[tuple[int, int, str]]:
    """The synset lines of a `data.*` file, skipping the licence header.

    Yields:
        (line number from 1, byte offset of the line, the line without its newline).

    Raises:
        DataCorrupt: If the last line has no newline (a truncated file) or a line is not ASCII.
    """
    data = path.read_bytes()
    position = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        start, position = position, position + len(raw) + 1
        if position > len(data):
            if raw:
                raise DataCorrupt(f"{path}:{number}: the file ends inside a line (truncated). {FIX}.")
            return
        if raw.startswith(b"  "):
            continue
        try:
            yield number, start, raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise DataCorrupt(f"{path}:{number}: not ASCII text ({e.reason}). {FIX}.") from e


def read_lexnames(wordnet_dir: Path) -> tuple[str, ...]:
    """Lexicographer file names by file number: from `lexnames` if present, else WordNet 3.0's table.

    Raises:
        DataCorrupt: If `lexnames` exists but is not `NN<TAB>name<TAB>category` lines numbered from 00.
    """
    path = wordnet_dir / LEXNAMES_FILE
    if not path.is_file():
        return WORDNET30_LEXNAMES
    names = []
    for number, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), start=1):
        fields = line.split()
        if len(fields) != 3 or fields[0] != f"{number - 1:02d}":
            raise DataCorrupt(f"{path}:{number}: expected '{number - 1:02d}<TAB>name<TAB>category'. {FIX}.")
        names.append(fields[1])
    return tuple(names)


def lexnames_text(lexnames: tuple[str, ...]) -> str:
    """`lexnames` in upstream WordNet's file format: `NN<TAB>name<TAB>syntactic category` lines."""
    rows = (f"{n:02d}\t{name}\t{SYNTACTIC_CATEGORY[name.split('.')[0]]}" for n, name in enumerate(lexnames))
    return "".join(row + "\n" for row in rows)


def _require_wordnet_dir(wordnet_dir: Path) -> None:
    missing = [name for name in DATA_FILES if not (wordnet_dir / name).is_file()]
    if missing:
        raise DataSourceMissing(
            f"WordNet files {', '.join(missing)} not found in {wordnet_dir}. Install them with "
            "`apt-get install wordnet-base`, or set AIPRIME_WORDNET_DIR to a folder that holds data.noun, "
            "data.verb, data.adj and data.adv."
        )


def parse_data_file(path: Path, lexnames: tuple[str, ...]) -> list[dict]:
    """Every synset of one `data.*` file, in file order.

    Raises:
        DataCorrupt: Naming the file, the line number and the fix, for a malformed or truncated line.
    """
    rows = []
    for number, byte_offset, line in iter_data_lines(path):
        try:
            rows.append(parse_data_line(line, byte_offset, lexnames))
        except (ValueError, IndexError) as e:
            raise DataCorrupt(f"{path}:{number}: malformed synset line: {e}. {FIX}.") from e
    return rows


def parse_wordnet(wordnet_dir: Path) -> pd.DataFrame:
    """The synsets table of a WordNet database folder (Debian's, or a raw copy made by `copy_wordnet`).

    Args:
        wordnet_dir: Folder holding `data.noun`, `data.verb`, `data.adj`, `data.adv` (and maybe `lexnames`).

    Returns:
        One row per synset, sorted by synset_id, with the columns of `SYNSETS_SCHEMA`.

    Raises:
        DataSourceMissing: If the folder or one of the data files does not exist.
        DataCorrupt: If a line is malformed or truncated.
    """
    _require_wordnet_dir(wordnet_dir)
    lexnames = read_lexnames(wordnet_dir)
    rows = [row for name in DATA_FILES for row in parse_data_file(wordnet_dir / name, lexnames)]
    frame = pd.DataFrame(rows, columns=SYNSETS_SCHEMA.names)
    return frame.sort_values("synset_id", kind="stable", ignore_index=True)


POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}


def lookup_synset(wordnet_dir: Path, synset: str) -> dict:
    """One synset by id, read directly at its offset (as WordNet's own tools do), without parsing the file.

    Args:
        wordnet_dir: A WordNet database folder.
        synset: A synset id such as "n02084071".

    Raises:
        InvalidInput: If `synset` is not a pos letter (n, v, a, r) and 8 digits.
        DataCorrupt: If no synset line starts at that offset.
    """
    pos, offset = synset[:1], synset[1:]
    if pos not in POS_FILES or not (offset.isdigit() and len(offset) == 8):
        raise InvalidInput(
            f"{synset!r} is not a synset id: expected n, v, a or r + 8 digits, e.g. n02084071."
        )
    _require_wordnet_dir(wordnet_dir)
    path = wordnet_dir / POS_FILES[pos]
    with path.open("rb") as file:
        file.seek(int(offset))
        line = file.readline().decode("ascii", errors="replace").rstrip("\n")
    try:
        return parse_data_line(line, int(offset), read_lexnames(wordnet_dir))
    except (ValueError, IndexError) as e:
        raise DataCorrupt(f"{path}: no synset line at byte {int(offset)} ({e}). {FIX}.") from e


def copy_wordnet(wordnet_dir: Path, out_dir: Path, limit: int | None = None) -> None:
    """Copy the data files and a `lexnames` file into `out_dir`, keeping the first `limit` synsets of each.

    The licence header is kept and lines are copied byte for byte, so offsets still match positions.
    """
    _require_wordnet_dir(wordnet_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        kept = bytearray()
        synsets = 0
        for line in (wordnet_dir / name).read_bytes().splitlines(keepends=True):
            is_header = line.startswith(b"  ")
            if not is_header and limit is not None and synsets >= limit:
                break
            synsets += not is_header
            kept += line
        (out_dir / name).write_bytes(bytes(kept))
    (out_dir / LEXNAMES_FILE).write_text(lexnames_text(read_lexnames(wordnet_dir)), encoding="ascii")
