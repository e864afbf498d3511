"""Data quality checks on the task tables: each returns a `CheckOutcome` that can fail.

Dagster runs them as asset checks; they are plain functions so tests can call them on small frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from aiprime.data.domains import load_domains
from aiprime.data.tasks import CLASSIFICATION_SCHEMA, DOCUMENTS_SCHEMA, QUERIES_SCHEMA

SPLIT_SHARES = {"train": 0.80, "val": 0.10, "test": 0.10}
SCHEMAS = {"classification": CLASSIFICATION_SCHEMA, "queries": QUERIES_SCHEMA, "documents": DOCUMENTS_SCHEMA}


@dataclass(frozen=True)
class CheckOutcome:
    """Whether a check passed, why, and figures to show beside it."""

    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def check_schema(name: str, frame: pd.DataFrame, min_rows: int) -> CheckOutcome:
    """The table has exactly its declared columns, no null ids, and at least `min_rows` rows."""
    expected = SCHEMAS[name].names
    problems = []
    if list(frame.columns) != expected:
        problems.append(f"columns {list(frame.columns)} != {expected}")
    id_column = expected[0]
    if frame[id_column].isna().any() if id_column in frame else True:
        problems.append(f"null or missing {id_column}")
    if len(frame) < min_rows:
        problems.append(f"{len(frame)} rows < {min_rows}")
    return CheckOutcome(
        not problems, "; ".join(problems) or f"{len(frame):,} rows, columns as declared", {"rows": len(frame)}
    )


def split_tolerance(share: float, rows: int, floor: float = 0.02) -> float:
    """How far a hash split's share may stray: 4 binomial standard deviations, and at least `floor`."""
    return max(floor, 4 * math.sqrt(share * (1 - share) / max(rows, 1)))


def check_label_distribution(classification: pd.DataFrame) -> CheckOutcome:
    """Every lexname seen is mapped to its domain, and each split holds its share of rows (see split_tolerance)."""
    domains = load_domains().set_index("lexname")["domain"]
    problems = []
    wrong = classification[classification["domain"] != classification["lexname"].map(domains)]
    if len(wrong):
        problems.append(f"{len(wrong)} rows whose domain disagrees with domains.csv")
    shares = classification["split"].value_counts(normalize=True).to_dict()
    for split, share in SPLIT_SHARES.items():
        tolerance = split_tolerance(share, len(classification))
        if abs(shares.get(split, 0.0) - share) > tolerance:
            problems.append(
                f"split {split} holds {shares.get(split, 0.0):.3f} of rows, expected {share}±{tolerance:.3f}"
            )
    missing = sorted(
        set(classification["lexname"]) - set(classification.loc[classification.split == "train", "lexname"])
    )
    if missing:
        problems.append(f"classes absent from train: {missing}")
    metadata = {f"share_{k}": round(v, 4) for k, v in shares.items()}
    metadata["classes"] = int(classification["lexname"].nunique())
    return CheckOutcome(not problems, "; ".join(problems) or "domains consistent, splits 80/10/10", metadata)


def check_queries_have_documents(queries: pd.DataFrame, documents: pd.DataFrame) -> CheckOutcome:
    """Every query's relevant document (`wn:<synset_id>`) is in the corpus."""
    doc_ids = set(documents["doc_id"])
    orphans = queries[~("wn:" + queries["synset_id"]).isin(doc_ids)]
    return CheckOutcome(
        orphans.empty,
        f"{len(orphans)} queries without their document" if len(orphans) else "every query has its document",
        {"orphans": len(orphans)},
    )
