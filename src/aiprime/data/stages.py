"""The three DVC stages of the datasets: raw (copy the sources), processed (parse), splits (build the tasks).

Each stage is a plain function of its input and output folders, run by `aiprime data stage raw|processed|
splits`. Outputs are byte-identical for the same input (sorted rows, no timestamps, fixed Parquet options)
and written atomically, so DVC's hashes only change when the data does.
"""

from __future__ import annotations

from pathlib import Path

from aiprime.data.atomic import atomic_path, read_parquet, write_json, write_parquet
from aiprime.data.foldoc import FOLDOC_SCHEMA, PLAIN_DICT_NAME, copy_foldoc, parse_foldoc
from aiprime.data.pydocs import PYDOCS_SCHEMA, copy_pydocs, parse_pydocs
from aiprime.data.sources import require_sources
from aiprime.data.tasks import (
    CLASSIFICATION_SCHEMA,
    DOCUMENTS_SCHEMA,
    QUERIES_SCHEMA,
    classification_table,
    retrieval_documents,
    retrieval_queries,
    task_stats,
)
from aiprime.data.wordnet import SYNSETS_SCHEMA, copy_wordnet, parse_wordnet
from aiprime.errors import DataSourceMissing, InvalidInput
from aiprime.settings import Settings

RAW_DIRS = ("wordnet", "foldoc", "pydocs")  # one folder per source under the raw stage's output
PROCESSED_FILES = ("synsets.parquet", "foldoc.parquet", "pydocs.parquet")
SPLITS_FILES = ("classification.parquet", "queries.parquet", "documents.parquet", "stats.json")


def _require(folder: Path, names: tuple[str, ...], stage: str) -> None:
    missing = [name for name in names if not (folder / name).exists()]
    if missing:
        raise DataSourceMissing(
            f"{', '.join(missing)} not found in {folder}. Run `aiprime data stage {stage}` first."
        )


def stage_raw(settings: Settings, out: Path, limit: int | None = None) -> None:
    """Copy the three sources into `out/wordnet`, `out/foldoc` and `out/pydocs`.

    FOLDOC is decompressed to a plain `foldoc.dict` with its rewritten `foldoc.index`; WordNet gets a
    `lexnames` file, which Debian does not ship.

    Args:
        settings: Where the sources are (`wordnet_dir`, `foldoc_dict`, `python_docs_dir`).
        out: The stage's output folder.
        limit: Keep only the first N synsets of each WordNet data file, N FOLDOC entries and N docs pages
            (sorted by path): a small real subset for tests. None keeps everything.

    Raises:
        DataSourceMissing: Listing every missing source and the `apt-get install` command, before writing.
        InvalidInput: If `limit` is below 1.
    """
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit must be at least 1 (or None for everything), got {limit}.")
    require_sources(settings)
    copies = {
        "wordnet": lambda staged: copy_wordnet(settings.wordnet_dir, staged, limit),
        "foldoc": lambda staged: copy_foldoc(settings.foldoc_dict, staged, limit),
        "pydocs": lambda staged: copy_pydocs(settings.python_docs_dir, staged, limit),
    }
    for name in RAW_DIRS:
        with atomic_path(out / name) as staged:
            copies[name](staged)


def stage_processed(raw: Path, out: Path) -> dict[str, int]:
    """Parse the raw copies into `synsets.parquet`, `foldoc.parquet` and `pydocs.parquet` in `out`.

    Returns:
        The number of rows written per file.

    Raises:
        DataSourceMissing: If `raw` lacks a source folder.
        DataCorrupt: If a raw file cannot be parsed.
    """
    _require(raw, RAW_DIRS, "raw")
    tables = {
        "synsets.parquet": (parse_wordnet(raw / "wordnet"), SYNSETS_SCHEMA),
        "foldoc.parquet": (parse_foldoc(raw / "foldoc" / PLAIN_DICT_NAME), FOLDOC_SCHEMA),
        "pydocs.parquet": (parse_pydocs(raw / "pydocs"), PYDOCS_SCHEMA),
    }
    for name, (frame, schema) in tables.items():
        write_parquet(out / name, frame, schema)
    return {name: len(frame) for name, (frame, _) in tables.items()}


def stage_splits(processed: Path, out: Path) -> dict:
    """Build the task tables from the processed sources into `out`.

    Writes `classification.parquet`, `queries.parquet`, `documents.parquet` and `stats.json`.

    Returns:
        The statistics written to `stats.json`: row counts per table, split, domain and source.

    Raises:
        DataSourceMissing: If a processed file is missing.
        DataCorrupt: If a lexname has no domain.
    """
    _require(processed, PROCESSED_FILES, "processed")
    synsets = read_parquet(processed / "synsets.parquet")
    foldoc, pydocs = read_parquet(processed / "foldoc.parquet"), read_parquet(processed / "pydocs.parquet")
    classification = classification_table(synsets)
    queries = retrieval_queries(synsets)
    documents = retrieval_documents(synsets, foldoc, pydocs)
    write_parquet(out / "classification.parquet", classification, CLASSIFICATION_SCHEMA)
    write_parquet(out / "queries.parquet", queries, QUERIES_SCHEMA)
    write_parquet(out / "documents.parquet", documents, DOCUMENTS_SCHEMA)
    stats = task_stats(classification, queries, documents)
    write_json(out / "stats.json", stats)
    return stats
