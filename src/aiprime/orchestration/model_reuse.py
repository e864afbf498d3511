"""When `moe_models` need not run the training pipeline: nothing that decides the models changed.

The pipeline's plan already reuses every champion trained on the same data with the same settings, but
running it still costs a process per task (prepare, plan, one per model, evaluate, register: minutes of
imports and MLflow round trips). The asset records a `training_key` (the options, the classification
table's DVC md5, the code that trains) and the champion version of every role after each local run; a
later materialisation with the same key, whose champions are still those versions, keeps that run's result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg

from aiprime import versioning
from aiprime.moe.dataset import data_version
from aiprime.moe.experts import EXPERTS, GATE
from aiprime.training.launch import TrainOptions
from aiprime.training.planning import DENSE, role_of

TRAINING_CODE = ("src/aiprime/moe", "src/aiprime/training", "components", "pipelines/compiled")


def training_key(root: Path, options: TrainOptions) -> str:
    """A hash of what decides a local run's models besides the champions: options (threads aside), the
    classification table's DVC md5 and the training code."""
    files = [
        f for folder in TRAINING_CODE for f in (root / folder).rglob("*") if f.suffix in (".py", ".yaml")
    ]
    chosen = json.dumps({k: v for k, v in asdict(options).items() if k != "threads"}, sort_keys=True)
    described = f"{chosen}\x00{data_version(root)}\x00{versioning.fingerprint(files)}"
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def champion_versions(tracking_uri: str) -> dict[str, str | None]:
    """The champion version of every role (gate, dense, each expert): registered name -> version or None."""
    from aiprime.registry import mlflow_registry as registry  # MLflow: imported on use

    names = [registry.registered_name(role_of(key)) for key in (GATE, DENSE, *(s.name for s in EXPERTS))]
    return {name: registry.version_for(tracking_uri, name, registry.CHAMPION) for name in names}


def unchanged_run(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, key: str, tracking_uri: str
) -> dict | None:
    """The metadata of the last materialisation of `asset_key` when it ran with `key` and its champions are
    still the champions; else None (the pipeline runs)."""
    event = instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return None
    last: dict[str, Any] = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    if last.get("training_key") != key or not Path(str(last.get("summary", ""))).is_file():
        return None
    return last if champion_versions(tracking_uri) == last.get("champion_versions") else None
