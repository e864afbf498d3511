"""Data quality checks: each passes on good tables and fails on the defect it is for."""

from __future__ import annotations

import pandas as pd
import pytest

from aiprime.data.quality import (
    check_label_distribution,
    check_queries_have_documents,
    check_schema,
    split_tolerance,
)


def _classification(
    n: int = 2000, split_of=lambda i: "train" if i % 10 < 8 else ("val" if i % 10 == 8 else "test")
):
    rows = [
        (
            f"n{i:08d}",
            f"gloss {i}",
            "noun.animal" if i % 2 else "verb.motion",
            "living" if i % 2 else "actions",
            split_of(i),
        )
        for i in range(n)
    ]
    return pd.DataFrame(rows, columns=["synset_id", "text", "lexname", "domain", "split"])


@pytest.mark.parametrize(
    ("frame", "min_rows", "passed"),
    [
        (_classification(), 100, True),
        (_classification(), 5000, False),  # too few rows
        (_classification().drop(columns="domain"), 1, False),  # a column lost
        (_classification().assign(synset_id=None), 1, False),  # null ids
    ],
)
def test_schema_check(frame, min_rows, passed) -> None:
    assert check_schema("classification", frame, min_rows).passed is passed


@pytest.mark.parametrize(
    ("frame", "passed", "why"),
    [
        (_classification(), True, "80/10/10"),
        (_classification(split_of=lambda i: "train"), False, "split val holds 0.000"),
        (_classification().assign(domain="living"), False, "disagrees with domains.csv"),
        (
            _classification(split_of=lambda i: "train" if i % 2 else ("val" if i % 4 == 0 else "test")),
            False,
            "classes absent from train: ['verb.motion']",
        ),
    ],
)
def test_label_distribution_check(frame, passed, why) -> None:
    outcome = check_label_distribution(frame)
    assert outcome.passed is passed
    assert why in outcome.description


def test_queries_without_documents_fail() -> None:
    queries = pd.DataFrame(
        {"query_id": ["q1", "q2"], "synset_id": ["n1", "n2"], "text": ["a", "b"], "split": ["train", "test"]}
    )
    documents = pd.DataFrame({"doc_id": ["wn:n1"]})
    outcome = check_queries_have_documents(queries, documents)
    assert not outcome.passed and outcome.metadata == {"orphans": 1}
    assert check_queries_have_documents(queries.head(1), documents).passed


@pytest.mark.parametrize(
    ("share", "rows", "tolerance"), [(0.1, 117_659, 0.02), (0.1, 120, 0.1095), (0.8, 400, 0.08)]
)
def test_split_tolerance_follows_the_sample_size(share, rows, tolerance) -> None:
    assert split_tolerance(share, rows) == pytest.approx(tolerance, abs=1e-4)
