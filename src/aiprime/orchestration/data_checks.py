"""Asset checks on the data tables; the logic lives in `aiprime.data.quality`."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from aiprime.data import quality
from aiprime.orchestration.resources import Workspace

MIN_ROWS = 1  # a limited subset is still valid data; the full data has 117,659 synsets


def _read(workspace: dg.ResourceParam[Workspace], name: str) -> pd.DataFrame:
    return pd.read_parquet(workspace.root / "data" / "splits" / f"{name}.parquet")


def _result(outcome: quality.CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.passed, description=outcome.description, metadata=outcome.metadata
    )


@dg.asset_check(asset="classification", description="Declared columns, no null ids, enough rows.")
def classification_schema(workspace: dg.ResourceParam[Workspace]) -> dg.AssetCheckResult:
    """Schema and row count of the classification table."""
    return _result(quality.check_schema("classification", _read(workspace, "classification"), MIN_ROWS))


@dg.asset_check(
    asset="classification", description="Domains match domains.csv; splits 80/10/10; every class in train."
)
def classification_labels(workspace: dg.ResourceParam[Workspace]) -> dg.AssetCheckResult:
    """Label distribution of the classification table."""
    return _result(quality.check_label_distribution(_read(workspace, "classification")))


@dg.asset_check(
    asset="queries",
    description="Declared columns and every query's document in the corpus.",
    additional_deps=["documents"],
)
def queries_have_documents(workspace: dg.ResourceParam[Workspace]) -> dg.AssetCheckResult:
    """Schema of the queries and their link to the documents."""
    queries = _read(workspace, "queries")
    schema = quality.check_schema("queries", queries, MIN_ROWS)
    if not schema.passed:
        return _result(schema)
    return _result(quality.check_queries_have_documents(queries, _read(workspace, "documents")))


DATA_CHECKS = [classification_schema, classification_labels, queries_have_documents]
