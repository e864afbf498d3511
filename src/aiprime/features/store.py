"""The Feast store of AI Prime: configured from Settings, applied, pushed to and read from."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml
from feast import FeatureStore, RepoConfig
from feast.data_source import PushMode

from aiprime.db.engine import ensure_databases
from aiprime.db.urls import parse_url, tool_db_url
from aiprime.errors import InvalidInput
from aiprime.features.definitions import feature_objects, offline_dir
from aiprime.settings import Settings

STATS_COLUMNS = ("expert", "in_flight", "p95_latency_ms", "error_rate", "utilisation")


def repo_dir() -> Path:
    """The checkout's `feature_repo/` (its feature_store.yaml is the one source of the store's shape)."""
    return Path(str(resources.files("aiprime"))).parents[1] / "feature_repo"


def config_values(settings: Settings, server_url: str) -> dict[str, str]:
    """The placeholder values of feature_store.yaml for this server and state folder."""
    url = parse_url(tool_db_url(server_url, "feast"))
    host = url.query.get("host") or url.host or "localhost"
    return {
        "AIPRIME_FEAST_REGISTRY": str(settings.home / "feast" / "registry.db"),
        "AIPRIME_FEAST_PG_HOST": host if isinstance(host, str) else host[0],
        "AIPRIME_FEAST_PG_PORT": str(url.port or 5432),
        "AIPRIME_FEAST_PG_DATABASE": "feast",
        "AIPRIME_FEAST_PG_USER": url.username or "postgres",
        "AIPRIME_FEAST_PG_PASSWORD": url.password or "",
    }


def open_store(settings: Settings, server_url: str) -> FeatureStore:
    """A FeatureStore on the `feast` database of `server_url`, with its registry under settings.home."""
    ensure_databases(server_url)
    offline_dir(settings.home).mkdir(parents=True, exist_ok=True)
    text = (repo_dir() / "feature_store.yaml").read_text()
    raw = yaml.safe_load(string.Template(text).substitute(config_values(settings, server_url)))
    return FeatureStore(config=RepoConfig(repo_path=repo_dir(), **raw))


def apply(store: FeatureStore, home: Path) -> list[str]:
    """Register the entities and feature views (idempotent, like `feast apply`); their names."""
    objects = feature_objects(home)
    _ensure_stats_file(offline_dir(home) / "expert_stats.parquet")
    store.apply(list(objects))
    return [o.name for o in objects]


def _ensure_stats_file(path: Path) -> None:
    """The file offline store appends pushed rows to an existing parquet: start it empty, typed."""
    if path.exists():
        return
    empty = pd.DataFrame(
        {
            "expert": pd.Series(dtype="string"),
            "in_flight": pd.Series(dtype="int64"),
            **{c: pd.Series(dtype="float64") for c in STATS_COLUMNS[2:]},
            "event_timestamp": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    empty.to_parquet(path, index=False)


def push_expert_stats(store: FeatureStore, stats: pd.DataFrame) -> None:
    """Push per-expert serving statistics to the online and offline stores, stamped now."""
    missing = set(STATS_COLUMNS) - set(stats.columns)
    if missing:
        raise InvalidInput(f"expert stats lack columns {sorted(missing)}; give {list(STATS_COLUMNS)}")
    frame = stats[list(STATS_COLUMNS)].assign(event_timestamp=datetime.now(UTC))
    store.push("expert_stats_push", frame, to=PushMode.ONLINE_AND_OFFLINE)


def online_expert_stats(store: FeatureStore, experts: list[str]) -> pd.DataFrame:
    """The latest statistics of each expert (nulls where none were pushed within the TTL)."""
    features = [f"expert_serving_stats:{c}" for c in STATS_COLUMNS[1:]]
    return store.get_online_features(features=features, entity_rows=[{"expert": e} for e in experts]).to_df()


def write_document_metadata(
    documents: pd.DataFrame, domains: pd.Series, data_version: str, home: Path
) -> Path:
    """Write the document metadata table that the `document_metadata` view reads; its path.

    `domains` maps a WordNet synset id to its domain; other documents get their source as domain.
    """
    frame = pd.DataFrame(
        {
            "doc_id": documents["doc_id"],
            "source": documents["source"],
            "domain": documents["synset_id"].map(domains).fillna(documents["source"]),
            "data_version": data_version,
            "n_chars": documents["text"].str.len().astype("int64"),
            "event_timestamp": datetime.now(UTC),
        }
    )
    path = offline_dir(home) / "document_metadata.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def materialize_documents(store: FeatureStore) -> None:
    """Load the document metadata into the online store."""
    store.materialize_incremental(end_date=datetime.now(UTC), feature_views=["document_metadata"])


def online_document_metadata(store: FeatureStore, doc_ids: list[str]) -> pd.DataFrame:
    """Metadata of the given documents from the online store."""
    features = [f"document_metadata:{c}" for c in ("source", "domain", "data_version", "n_chars")]
    return store.get_online_features(features=features, entity_rows=[{"doc_id": d} for d in doc_ids]).to_df()
