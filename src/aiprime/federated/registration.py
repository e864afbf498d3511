"""Federated models in MLflow: one run with the scores and the privacy spent, a challenger, the champion gate.

The federated heads are registered as `aiprime-federated-heads`. A new version is `challenger` and becomes
`champion` only if its macro-F1 on the validation split beats the champion's, both scored here on the same
split. The run and the version carry the epsilon spent and its delta (none: no DP), so the privacy of a
model travels with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.federated.config import RESULT_FILE
from aiprime.federated.fitting import score
from aiprime.federated.heads import Task, load_heads

ROLE = "federated-heads"  # registered as aiprime-federated-heads


@dataclass(frozen=True)
class Lineage:
    """Where a federated model came from."""

    data_version: str  # the DVC md5 of the classification table
    code_version: str  # the git sha
    pipeline_run_id: str  # the KFP run


def run_metrics(result: dict) -> dict[str, float]:
    """The numbers logged to MLflow: validation and test scores, rounds, the privacy spent."""
    metrics = {f"{split}_{k}": v for split in ("val", "test") for k, v in result[split].items()}
    metrics["rounds"] = float(len(result["rounds"]))
    privacy = result.get("privacy") or {}
    for key in (
        "epsilon",
        "epsilon_opacus",
        "delta",
        "noise_multiplier",
        "clipping_norm",
        "local_epsilon_total",
    ):
        if key in privacy:
            metrics[f"dp_{key}"] = float(privacy[key])
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def privacy_tags(result: dict) -> dict[str, str]:
    """The tags that state a version's privacy: epsilon and delta, or `none`."""
    privacy = result.get("privacy") or {}
    tags = {"dp_epsilon": "none (no differential privacy)"}
    if "epsilon" in privacy:
        tags = {"dp_epsilon": f"{privacy['epsilon']:.4f}", "dp_delta": f"{privacy['delta']:.3g}",
                "dp_unit": privacy.get("unit", "organisation")}  # fmt: skip
    if "local_epsilon_total" in privacy:
        tags["local_dp_epsilon"] = f"{privacy['local_epsilon_total']:.4f}"
    return tags


def register_federated(tracking_uri: str, folder: Path, val: Task, lineage: Lineage, experiment: str):
    """Log the run of the model in `folder`, register it as challenger, promote it if it beats the champion.

    Returns:
        `aiprime.registry.mlflow_registry.Promotion`: the champion gate's decision.
    """
    import mlflow

    from aiprime.registry import mlflow_registry as registry

    result = json.loads((Path(folder) / RESULT_FILE).read_text())
    challenger = score(load_heads(folder, val), val.x["val"], val.y["val"])["macro_f1"]
    tags = {**privacy_tags(result), "data_version": lineage.data_version, "code_version": lineage.code_version,
            "pipeline_run_id": lineage.pipeline_run_id, "model_version": result["model_version"]}  # fmt: skip
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = experiment_for(client, experiment)
    run = client.create_run(experiment_id, tags=tags, run_name="federated-heads")
    for key, value in run_metrics(result).items():
        client.log_metric(run.info.run_id, key, value)
    client.log_param(run.info.run_id, "config", json.dumps(result["config"], sort_keys=True)[:6000])
    client.set_terminated(run.info.run_id)
    name = registry.registered_name(ROLE)
    registry.register(tracking_uri, name, Path(folder), run.info.run_id, tags)
    return registry.promote(tracking_uri, name, challenger, champion_score(tracking_uri, val))


def champion_score(tracking_uri: str, val: Task) -> float | None:
    """The current champion's validation macro-F1, or None when there is none."""
    import tempfile

    from aiprime.registry import mlflow_registry as registry

    name = registry.registered_name(ROLE)
    if registry.version_for(tracking_uri, name, registry.CHAMPION) is None:
        return None
    with tempfile.TemporaryDirectory(prefix="aiprime-federated-") as tmp:
        folder = registry.download(tracking_uri, name, registry.CHAMPION, Path(tmp))
        return score(load_heads(folder, val), val.x["val"], val.y["val"])["macro_f1"]


def experiment_for(client, name: str) -> str:
    """The id of MLflow experiment `name`, created when absent."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def register_federated_split(
    tracking_uri: str, folder: Path, val_split: Path, lineage: Lineage, experiment: str
) -> dict:
    """`register_federated` with the validation split read from a `TaskSplit` file; a JSON-ready summary."""
    from aiprime.federated.runner import task_from_splits
    from aiprime.moe.dataset import TaskSplit

    val = task_from_splits({"val": TaskSplit.load(Path(val_split))})
    promotion = register_federated(tracking_uri, folder, val, lineage, experiment)
    result = json.loads((Path(folder) / RESULT_FILE).read_text())
    return {
        "name": promotion.name,
        "version": promotion.challenger,
        "promoted": promotion.promoted,
        "reason": promotion.reason,
        "val_macro_f1": promotion.challenger_score,
        "test": result["test"],
        **privacy_tags(result),
    }
