"""The platform's main job, step by step: services, data; later training, serving and answered queries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiprime import versioning
from aiprime.db.engine import connect
from aiprime.services import stack
from aiprime.settings import Settings
from aiprime.versioning import DatasetVersion


def ingest(
    settings: Settings, root: Path, on_stage: Callable[[str], None] = lambda s: None
) -> list[DatasetVersion]:
    """Reproduce and push the DVC data pipeline, then record every dataset version in PostgreSQL."""
    versioning.load_params(root)
    versioning.reproduce(root, on_stage)
    on_stage("push")
    versioning.push(root)
    versions = versioning.read_versions(root)
    engine = connect(stack.prepare_app_db(settings))
    versioning.record_versions(engine, versions)
    engine.dispose()
    return versions
