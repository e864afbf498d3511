"""Recording a training run in MLflow: the evaluation run, and each newly trained model registered and gated.

Every registered version is tagged with its lineage (data version = DVC md5, code version = git sha, the
pipeline run id) and its fingerprint, which `planning.plan_run` reads back to decide what the next run may
reuse. A new version gets the alias `challenger`; `champion` moves to it only if it scores higher than the
current champion, both scored here on the same validation rows.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from aiprime.moe.dataset import TaskSplit
from aiprime.moe.evaluation import PROMOTION_METRIC, score_member
from aiprime.moe.fitting import fetch_model, registry_role
from aiprime.moe.system import Member
from aiprime.registry import mlflow_registry as registry
from aiprime.training.kubeflow import EXPERIMENT


@dataclass(frozen=True)
class Lineage:
    """Where a model came from; every registered version carries it as tags."""

    data_version: str  # DVC md5 of the classification table
    code_version: str  # git sha of the checkout (with `-dirty` when it had uncommitted changes)
    pipeline_run_id: str  # the KFP run that trained it

    def tags(self) -> dict[str, str]:
        """The lineage as MLflow tags."""
        return {k: str(v) for k, v in asdict(self).items()}


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created if absent."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def finite(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics that are numbers (MLflow has no use for NaN)."""
    return {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(float(v))}


def log_evaluation(
    tracking_uri: str,
    metrics: Mapping[str, float],
    files: Mapping[str, Path],
    params: Mapping[str, object],
    lineage: Lineage,
    experiment: str = EXPERIMENT,
) -> str:
    """One MLflow run holding a training run's test metrics, parameters and report files; its id."""
    client = MlflowClient(tracking_uri)
    run = client.create_run(
        experiment_id(client, experiment),
        run_name=f"moe-training {lineage.pipeline_run_id}",
        tags=lineage.tags(),
    )
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, now, 0) for k, v in finite(metrics).items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    for path in files.values():
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def champion_score(tracking_uri: str, role: str, split: TaskSplit) -> float | None:
    """The current champion of `role` scored on `split`, or None when there is no champion."""
    name = registry.registered_name(role)
    if registry.version_for(tracking_uri, name, registry.CHAMPION) is None:
        return None
    with tempfile.TemporaryDirectory(prefix="aiprime-champion-") as tmp:
        member = Member.load(fetch_model(tracking_uri, role, Path(tmp)))
        return getattr(score_member(member, split), PROMOTION_METRIC)


def register_candidate(
    tracking_uri: str,
    folder: Path,
    val: TaskSplit,
    lineage: Lineage,
    parent_run_id: str,
    experiment: str = EXPERIMENT,
) -> registry.Promotion:
    """Register a newly trained model folder as `challenger` and promote it if it beats the champion on `val`."""
    member = Member.load(folder)
    role = registry_role(member.metadata)
    score = getattr(score_member(member, val), PROMOTION_METRIC)
    before = champion_score(tracking_uri, role, val)
    client = MlflowClient(tracking_uri)
    run = client.create_run(
        experiment_id(client, experiment),
        run_name=f"{role} {lineage.pipeline_run_id}",
        tags=lineage.tags() | {"mlflow.parentRunId": parent_run_id, "role": role},
    )
    history = member.metadata.get("history", {})
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(f"val.{PROMOTION_METRIC}", score, int(time.time() * 1000), 0)],
        params=[Param(k, str(v)) for k, v in (history | gate_params(member.metadata)).items()],
    )
    tags = (
        lineage.tags()
        | {
            "role": role,
            "fingerprint": member.metadata.get("fingerprint", ""),
            f"val_{PROMOTION_METRIC}": f"{score:.6f}",
        }
        | {k: str(member.metadata[k]) for k in ("temperature", "threshold") if k in member.metadata}
    )
    registry.register(tracking_uri, registry.registered_name(role), Path(folder), run.info.run_id, tags)
    client.set_terminated(run.info.run_id)
    return registry.promote(tracking_uri, registry.registered_name(role), score, before)


def calibration_params(metadata: Mapping[str, object]) -> dict[str, object]:
    """A calibrated gate's calibration (`aiprime.moe.calibration`) as run params `calibration.<field>`."""
    calibration = metadata.get("calibration") or {}
    return {f"calibration.{k}": v for k, v in calibration.items()}  # type: ignore[union-attr]


def gate_params(metadata: Mapping[str, object]) -> dict[str, object]:
    """`calibration_params`, and the sense questions a gate trained on (`planning.train_gate_on_questions`) as
    run params `questions.train`, `questions.val`, `questions.version`."""
    questions = metadata.get("questions") or {}
    return calibration_params(metadata) | {f"questions.{k}": v for k, v in questions.items()}  # type: ignore[union-attr]


def promotion_record(promotion: registry.Promotion) -> dict[str, object]:
    """A promotion as a JSON-ready dict with its one-line reason."""
    return asdict(promotion) | {"reason": promotion.reason}
