"""The documents to index: `documents.parquet` with each document's domain and the data version.

WordNet documents take their domain (living, artifacts, ...) from `classification.parquet`, the gate's
classes; FOLDOC and Python docs documents are all `computing`, a value of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from aiprime.errors import DataCorrupt, DataSourceMissing

COMPUTING = "computing"  # the domain of FOLDOC and Python docs documents


@dataclass(frozen=True)
class Document:
    """One retrieval document as it is stored, before chunking."""

    doc_id: str  # wn:<synset_id>, foldoc:<term>, pydoc:<page>#<slug>
    source: str  # wordnet, foldoc or pydocs
    domain: str  # a gate domain for WordNet, `computing` otherwise
    title: str
    text: str


def load_corpus(splits_dir: Path, limit: int | None = None) -> list[Document]:
    """The documents of `splits_dir/documents.parquet`, sorted by doc_id, with their domains.

    Args:
        splits_dir: The `splits` stage's folder (holds documents.parquet and classification.parquet).
        limit: Keep the first N documents of each source (a small real slice), or all when None.

    Raises:
        DataSourceMissing: If a table is absent.
        DataCorrupt: If a WordNet document has no classification row.
    """
    docs = _read(splits_dir / "documents.parquet", ["doc_id", "source", "title", "text", "synset_id"])
    if limit is not None:
        docs = docs.groupby("source", sort=False).head(limit)
    classes = _read(splits_dir / "classification.parquet", ["synset_id", "domain"])
    docs = docs.merge(classes, on="synset_id", how="left").sort_values("doc_id", ignore_index=True)
    unclassified = docs[(docs.source == "wordnet") & docs.domain.isna()]
    if len(unclassified):
        raise DataCorrupt(
            f"{len(unclassified)} WordNet documents have no row in classification.parquet "
            f"(first: {unclassified.doc_id.iloc[0]}). Rebuild both: `aiprime data ingest`."
        )
    docs["domain"] = docs.domain.fillna(COMPUTING)
    return [
        Document(*row)
        for row in docs[["doc_id", "source", "domain", "title", "text"]].itertuples(index=False)
    ]


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataSourceMissing(f"{path} not found. Build the data first: `aiprime data ingest`.")
    return pd.read_parquet(path, columns=columns)


def data_version(splits_dir: Path) -> str | None:
    """The DVC md5 of `documents.parquet` recorded in the `dvc.lock` beside `splits_dir`, or None."""
    lock_file = splits_dir.parent / "dvc.lock"
    if not lock_file.is_file():
        return None
    wanted = f"{splits_dir.name}/documents.parquet"
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    outs: Iterable[dict] = (out for spec in stages.values() for out in spec.get("outs", []))
    return next((out.get("md5") for out in outs if out.get("path") == wanted), None)


def check_text(doc_id: str, field: str, value: object) -> str:
    """`value` as a str that PostgreSQL can store; DataCorrupt names the document when it is not UTF-8.

    Bytes are decoded strictly; a str with lone surrogates (bytes decoded with `surrogateescape`) or a NUL
    character is refused too.
    """
    fix = "Fix the source file's encoding and rebuild the data (`aiprime data ingest`)."
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataCorrupt(
                f"Document {doc_id!r}: {field} is not valid UTF-8 ({e.reason} at byte {e.start}). " + fix
            ) from e
    if not isinstance(value, str):
        raise DataCorrupt(f"Document {doc_id!r}: {field} is {type(value).__name__}, expected text. " + fix)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise DataCorrupt(
            f"Document {doc_id!r}: {field} holds a character that is not UTF-8 ({e.reason} at "
            f"position {e.start}). " + fix
        ) from e
    if "\x00" in value:
        raise DataCorrupt(
            f"Document {doc_id!r}: {field} contains a NUL character, which PostgreSQL cannot store. " + fix
        )
    return value
