"""Feast as assets: the applied feature registry and the document metadata in the online store."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from aiprime import versioning
from aiprime.features import store as features
from aiprime.orchestration.resources import Workspace

GROUP = "features"


@dg.asset(group_name=GROUP, kinds={"feast"})
def feature_store(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """Feast entities and feature views applied to the registry (`feast apply`)."""
    store = features.open_store(workspace.settings, workspace.server_url())
    names = features.apply(store, workspace.settings.home)
    return dg.MaterializeResult(metadata={"objects": ", ".join(names)})


@dg.asset(
    group_name=GROUP,
    deps=[feature_store, dg.AssetKey("documents"), dg.AssetKey("classification")],
    kinds={"feast", "postgres"},
)
def document_features(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """Per-document metadata (source, domain, data version, length) materialised to the online store."""
    splits = workspace.root / "data" / "splits"
    documents = pd.read_parquet(splits / "documents.parquet")
    domains = pd.read_parquet(splits / "classification.parquet", columns=["synset_id", "domain"])
    version = versioning.stage_outs(workspace.root, "splits")["splits/documents.parquet"]
    features.write_document_metadata(
        documents, domains.set_index("synset_id")["domain"], version, workspace.settings.home
    )
    store = features.open_store(workspace.settings, workspace.server_url())
    features.materialize_documents(store)
    return dg.MaterializeResult(
        metadata={"documents": len(documents), "data_version": version}, data_version=dg.DataVersion(version)
    )
