"""The training reference that traffic is compared with.

A random sample of the classification table's train rows, embedded as training embedded them (the chunked
cache under `settings.home / "embeddings"` is reused when training filled it), and routed by the gate that
serves the traffic. Routing the reference with the served gate, rather than taking its labelled domains,
makes the chi-square test compare like with like: a gate's choices differ from the labels wherever it errs,
and that is not drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aiprime.errors import InvalidInput, NotFound
from aiprime.moe.dataset import embed_rows, file_md5


@dataclass(frozen=True)
class Reference:
    """Training rows as the gate sees them."""

    embeddings: np.ndarray  # (N, 384) float32 unit-norm gloss embeddings
    routes: list[str]  # the gate's first choice for each row, as served (`people-society`)
    data_version: str  # md5 of the table sampled


def train_sample(table: Path, size: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train split of the classification table at `table`, and `size` of its rows drawn at random.

    Raises:
        NotFound: no table (run `aiprime data ingest`).
        InvalidInput: the table has no train rows.
    """
    if not Path(table).is_file():
        raise NotFound(
            f"No classification table at {table}. Run `aiprime data ingest` (or `dvc pull`) first."
        )
    rows = pd.read_parquet(table, columns=["text", "domain", "split"])
    train = rows[rows.split == "train"]
    if train.empty:
        raise InvalidInput(f"{table} has no train rows; rebuild it with `aiprime data ingest`.")
    return train, train.sample(min(size, len(train)), random_state=seed).sort_index()


Route = Callable[[np.ndarray], list[str]]  # embeddings (N, 384) -> the served gate's route name for each


def training_reference(
    table: Path, cache_dir: Path, route: Route, size: int = 1000, seed: int = 0
) -> Reference:
    """`size` train rows of `table`, embedded (cached under `cache_dir`) and routed by `route`.

    `route` is the serving gate's choice (`aiprime.serving.served_models.gate_routes`), passed in by the caller:
    drift sits below serving and never loads a served model itself.
    """
    train, kept = train_sample(table, size, seed)
    embeddings = embed_rows(train, kept, cache_dir)  # (size, 384)
    return Reference(embeddings, route(embeddings), file_md5(table))
