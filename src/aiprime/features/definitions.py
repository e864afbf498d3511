"""The Feast entities, sources and feature views of AI Prime."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, PushSource
from feast.types import Float64, Int64, String
from feast.value_type import ValueType

EXPERT_STATS_TTL = timedelta(minutes=10)  # older statistics say nothing about an expert's load now


def offline_dir(home: Path) -> Path:
    """Where the file offline store keeps its parquet files."""
    return home / "feast" / "offline"


def feature_objects(home: Path) -> tuple:
    """(expert, document, expert_stats_push, expert_serving_stats, document_metadata) for state under `home`."""
    expert = Entity(
        name="expert",
        join_keys=["expert"],
        value_type=ValueType.STRING,
        description="An expert model, by domain (e.g. actions).",
    )
    document = Entity(
        name="document",
        join_keys=["doc_id"],
        value_type=ValueType.STRING,
        description="A retrieval document, by doc_id (e.g. wn:n02084071).",
    )
    stats_file = FileSource(
        name="expert_stats_file",
        path=str(offline_dir(home) / "expert_stats.parquet"),
        timestamp_field="event_timestamp",
    )
    expert_stats_push = PushSource(name="expert_stats_push", batch_source=stats_file)
    expert_serving_stats = FeatureView(
        name="expert_serving_stats",
        entities=[expert],
        ttl=EXPERT_STATS_TTL,
        source=expert_stats_push,
        schema=[
            Field(name="in_flight", dtype=Int64),
            Field(name="p95_latency_ms", dtype=Float64),
            Field(name="error_rate", dtype=Float64),
            Field(name="utilisation", dtype=Float64),
        ],
        description="Live serving statistics pushed from the expert servers; read by the gate to avoid load.",
    )
    document_metadata = FeatureView(
        name="document_metadata",
        entities=[document],
        ttl=timedelta(0),
        source=FileSource(
            name="document_metadata_file",
            path=str(offline_dir(home) / "document_metadata.parquet"),
            timestamp_field="event_timestamp",
        ),
        schema=[
            Field(name="source", dtype=String),
            Field(name="domain", dtype=String),
            Field(name="data_version", dtype=String),
            Field(name="n_chars", dtype=Int64),
        ],
        description="Per-document metadata for retrieval filters.",
    )
    return expert, document, expert_stats_push, expert_serving_stats, document_metadata
