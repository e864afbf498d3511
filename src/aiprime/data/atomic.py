"""Atomic, byte-reproducible writers for stage outputs.

DVC hashes every output, so the same input must give the same bytes, and a killed run must never leave a
half-written file under a name that looks finished. Every writer here builds a hidden sibling first and
renames it onto the target only once it is complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Fixed writer options: a change here changes every output hash, so change it on purpose only.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 65536,
}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_stale_temporaries(target: Path) -> None:
    """Delete what an earlier, killed run left beside `target`."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        _remove(stale)


def _swap_into_place(staged: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.tmp-old-{os.getpid()}")
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old)
    else:
        os.replace(staged, target)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A hidden sibling path to write instead of `target`, renamed onto it when the block succeeds.

    Works for a file or a whole folder: the caller creates whichever it needs at the yielded path. If the
    block raises, the temporary is removed and `target` is left as it was.

    Args:
        target: The file or folder to (re)place.

    Yields:
        The temporary path, in the same folder as `target` so that the rename is atomic.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    staged = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield staged
        _swap_into_place(staged, target)
    finally:
        if staged.exists():
            _remove(staged)


def write_bytes(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as staged:
        staged.write_bytes(data)


def write_json(target: Path, value: object) -> None:
    """Write `value` as sorted, indented JSON (with a final newline) to `target` atomically."""
    write_bytes(target, (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


def write_parquet(target: Path, frame: pd.DataFrame, schema: pa.Schema) -> None:
    """Write `frame` to `target` as Parquet with the fixed `PARQUET_OPTIONS`, atomically.

    Args:
        target: The output file.
        frame: Rows in their final order; its index is dropped.
        schema: The table's Arrow schema, so that a subset with, say, no examples at all still gets
            `list<string>` columns rather than an inferred `list<null>`.
    """
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    with atomic_path(target) as staged:
        pq.write_table(table, staged, **PARQUET_OPTIONS)


def read_parquet(path: Path) -> pd.DataFrame:
    """Read a stage output, with list columns as Python lists (pyarrow gives numpy arrays)."""
    table = pq.read_table(path)
    frame = table.to_pandas()
    for field in table.schema:
        if pa.types.is_list(field.type):
            frame[field.name] = frame[field.name].map(lambda value: [] if value is None else list(value))
    return frame
