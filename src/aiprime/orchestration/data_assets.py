"""Data assets: the Debian sources, the DVC stages raw -> processed -> splits, and the recorded versions.

Each table's Dagster data version is the md5 that DVC records for it, so Dagster's lineage and DVC's
versions name the same thing; the code version is a hash of `aiprime.data`, so a parser change marks the
tables stale.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from aiprime import versioning
from aiprime.data.sources import sources
from aiprime.orchestration.resources import Workspace

GROUP = "data"
PROCESSED = ("synsets", "foldoc", "pydocs")
SPLITS = ("classification", "queries", "documents")


def data_code_version() -> str:
    """A short hash of the `aiprime.data` sources, shared by the data assets as their code version."""
    return versioning.fingerprint([Path(__file__).resolve().parents[1] / "data"])[:16]


def _observe_debian_sources(workspace: dg.ResourceParam[Workspace]) -> dg.DataVersion:
    """Observe the installed source files; their content hash is the data version."""
    paths = [p for source in sources(workspace.settings) for p in source.paths if p.exists()]
    return dg.DataVersion(versioning.fingerprint(paths)[:16])


with warnings.catch_warnings():  # observable source assets are "beta" in Dagster 1.13, and stable enough here
    warnings.simplefilter("ignore", dg.BetaWarning)
    debian_sources = dg.observable_source_asset(  # with keyword arguments only: a positional fn drops them
        key="debian_sources",
        group_name=GROUP,
        description="WordNet, FOLDOC and the Python docs, installed from Debian packages.",
    )(_observe_debian_sources)


def _repro(workspace: dg.ResourceParam[Workspace], stage: str) -> dict[str, str]:
    versioning.dvc(workspace.root, "repro", "--single-item", f"data/dvc.yaml:{stage}")
    return versioning.stage_outs(workspace.root, stage)


def build_data_assets(code_version: str) -> list[dg.AssetsDefinition]:
    """The three DVC stages as assets with `code_version`, plus the versions recorded in PostgreSQL."""

    @dg.asset(group_name=GROUP, deps=[debian_sources], code_version=code_version, kinds={"dvc"})
    def raw_data(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
        """Byte copies of the sources (a limited subset when data/params.yaml sets `limit`)."""
        md5 = _repro(workspace, "raw")["raw"]
        return dg.MaterializeResult(metadata={"dvc_md5": md5}, data_version=dg.DataVersion(md5))

    @dg.multi_asset(
        group_name=GROUP,
        deps=[raw_data],
        code_version=code_version,
        outs={name: dg.AssetOut(kinds={"parquet"}, description=_describe(name)) for name in PROCESSED},
    )
    def processed_tables(workspace: dg.ResourceParam[Workspace]):
        """Parse the raw copies into tidy tables (DVC stage `processed`)."""
        yield from _table_outputs(workspace, _repro(workspace, "processed"), "processed")

    @dg.multi_asset(
        group_name=GROUP,
        deps=[dg.AssetKey(n) for n in PROCESSED],
        code_version=code_version,
        outs={name: dg.AssetOut(kinds={"parquet"}, description=_describe(name)) for name in SPLITS},
    )
    def task_splits(workspace: dg.ResourceParam[Workspace]):
        """Build the classification and retrieval tasks with their splits (DVC stage `splits`)."""
        yield from _table_outputs(workspace, _repro(workspace, "splits"), "splits")

    return [raw_data, processed_tables, task_splits, dataset_versions]


def _describe(name: str) -> str:
    return {
        "synsets": "WordNet synsets: id, pos, lexname, lemmas, gloss, examples, relations.",
        "foldoc": "FOLDOC articles: term, body, cross-references.",
        "pydocs": "Python 3.11 docs sections: page, section path, title, text.",
        "classification": "Gloss -> lexicographer class (45) and domain (6), with a hash-based split.",
        "queries": "Masked WordNet example sentences; the relevant document is their synset's gloss.",
        "documents": "The retrieval corpus: WordNet glosses, FOLDOC articles, Python docs sections.",
    }[name]


def _table_outputs(workspace: dg.ResourceParam[Workspace], outs: dict[str, str], stage: str):
    for path, md5 in outs.items():
        name = Path(path).stem
        if Path(path).suffix != ".parquet":
            continue
        rows = pq.ParquetFile(workspace.root / "data" / path).metadata.num_rows
        yield dg.Output(
            None,
            output_name=name,
            data_version=dg.DataVersion(md5),
            metadata={"dvc_md5": md5, "rows": rows, "path": f"data/{path}", "stage": stage},
        )


@dg.asset(group_name=GROUP, deps=[dg.AssetKey(n) for n in (*PROCESSED, *SPLITS)], kinds={"postgres"})
def dataset_versions(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """Every table's DVC version recorded in PostgreSQL, so models can be tagged with their data."""
    versions = versioning.read_versions(workspace.root)
    engine = workspace.app_db()
    new = versioning.record_versions(engine, versions)
    engine.dispose()
    return dg.MaterializeResult(metadata={"tables": len(versions), "new_versions": new})
