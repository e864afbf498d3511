"""Model assets: the mixture of experts, trained by the `moe-training` KFP pipeline and registered in MLflow.

Materialising `moe_models` runs the committed pipeline with kfp.local (what `aiprime train` runs), so its
lineage in Dagster starts at the DVC-versioned classification table. Its data version is the MLflow run
that evaluated the models; its metadata holds the test scores and each champion decision. The `trainer`
resource decides where it runs: `definitions.py` picks the cluster trainer when AIPRIME_KFP_HOST is set,
which submits the same pipeline to that Kubeflow Pipelines server and records the run id.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from aiprime.observability import progress
from aiprime.orchestration import model_reuse
from aiprime.orchestration.resources import Trainer, TrainingRun, Workspace
from aiprime.settings import Settings
from aiprime.training.launch import TrainOptions

GROUP = "models"


class TrainingConfig(dg.Config):
    """The pipeline parameters, as in `aiprime train --help`."""

    limit: int = Field(0, ge=0, description="At most N rows per (split, lexname); 0 uses all the data.")
    max_epochs: int = Field(30, ge=1, description="Epochs at most per model; early stopping may end sooner.")
    lr: float = Field(1e-3, gt=0, description="Peak AdamW learning rate (one-cycle schedule).")
    seed: int = Field(0, description="Base seed; each expert derives its own from it and its name.")
    threads: int = Field(
        2,
        ge=0,
        description="torch threads per pipeline step (0: torch's default); two fits at once take half each.",
    )
    retrain: bool = Field(False, description="Train every model, even those whose champion is current.")


CHAMPION_GATE = dg.AssetCheckSpec(
    "challengers_beat_champions",
    asset="moe_models",
    description="Every model this run trained beat its champion on the validation split and became champion "
    "(a warning: the champions stay in place when a challenger loses).",
)


MOE_MODELS = dg.AssetSpec(
    "moe_models",
    group_name=GROUP,
    deps=[dg.AssetKey("classification"), dg.AssetKey("gate_feedback")],
    kinds={"kubeflow", "mlflow", "pytorch"},
    description="The gate, one expert per domain and the dense baseline: trained, evaluated, registered in MLflow.",
)


@dg.multi_asset(specs=[MOE_MODELS], check_specs=[CHAMPION_GATE], can_subset=True)
def moe_models(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    workspace: dg.ResourceParam[Workspace],
    trainer: dg.ResourceParam[Trainer],
) -> Iterator[dg.MaterializeResult]:
    """Run the moe-training pipeline here with kfp.local, or submit it to a Kubeflow Pipelines server.

    A submitted run trains, gates and registers on the cluster: the asset records its run id, and the
    champion gate's check is not evaluated here.
    """
    options, tracking_uri = TrainOptions(**config.model_dump()), workspace.settings.mlflow_url
    key = model_reuse.training_key(workspace.root, options)
    kept = (
        None
        if options.retrain
        else model_reuse.unchanged_run(context.instance, MOE_MODELS.key, key, tracking_uri)
    )
    if kept is not None:
        context.log.info(f"nothing changed since MLflow run {kept['mlflow_run_id']}: its champions are kept")
        yield kept_result(kept)
        return
    from aiprime.drift.feedback import current_version, tag_trained

    tasks = TaskStages(context.log.info)
    feedback = current_version(workspace.root)  # the labels build_splits adds to the train split
    run = trainer.train(workspace, options, on_task=tasks.on_task)
    if run.summary is None:
        yield training_result(run)
        return
    tag_trained(tracking_uri, run.summary, feedback)
    _publish_training(run.summary, workspace.settings)
    reuse = {"training_key": key, "champion_versions": model_reuse.champion_versions(tracking_uri)}
    yield training_result(run, reuse)


def kept_result(last: dict[str, Any]) -> dg.MaterializeResult:
    """The asset's materialisation when the pipeline did not run: the last run's record, marked as kept."""
    metadata = {
        key: dg.MetadataValue.json(value) if isinstance(value, dict | list) else value
        for key, value in last.items()
    }
    return dg.MaterializeResult(
        asset_key=MOE_MODELS.key,
        metadata={**metadata, "kept": True, "log": dg.MetadataValue.path(last["log"])},
        data_version=dg.DataVersion(last["mlflow_run_id"]),
        check_results=[
            dg.AssetCheckResult(
                check_name=CHAMPION_GATE.name,
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"no training: nothing changed since MLflow run {last['mlflow_run_id']}",
            )
        ],
    )


class TaskStages:
    """Reports each pipeline task as a progress stage (from its start to its end) and logs its states.

    The iterations of a ParallelFor share their task's name: they are numbered, and an end closes the
    earliest running one of that name.
    """

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.running: dict[str, list[progress.Stage]] = {}
        self.started: Counter[str] = Counter()

    def on_task(self, task: str, state: str) -> None:
        """kfp.local's report that `task` is "running" or ended ("SUCCESS", "FAILURE")."""
        self.log(f"task {task}: {state}")
        if state == "running":
            self.started[task] += 1
            number = f" #{self.started[task]}" if self.started[task] > 1 else ""
            self.running.setdefault(task, []).append(progress.stage(f"training task {task}{number}"))
        elif self.running.get(task):
            self.running[task].pop(0).close()


def _publish_training(summary: dict[str, Any], settings: Settings) -> None:
    """The run's scores and champion decisions as Prometheus metrics (the training dashboard reads them)."""
    from aiprime.observability.jobmetrics import TrainingMetrics, publish

    metrics = TrainingMetrics()
    metrics.record(summary["metrics"], {p["name"]: bool(p["promoted"]) for p in summary["promotions"]})
    publish(metrics.registry, "training", settings.home / "metrics", settings.pushgateway_url)


def training_result(run: TrainingRun, reuse: dict[str, Any] | None = None) -> dg.MaterializeResult:
    """The asset's materialisation: a submitted run's id, or a finished run's scores and champion gate
    (with `reuse`: the training key and champion versions a later run compares with its own)."""
    if run.summary is None:
        return dg.MaterializeResult(
            asset_key=MOE_MODELS.key, metadata={"kfp_host": run.kfp_host, "kfp_run_id": run.kfp_run_id}
        )
    reuse = reuse or {}
    return dg.MaterializeResult(
        asset_key=MOE_MODELS.key,
        metadata=training_metadata(run.summary, str(run.log))
        | {k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in reuse.items()},
        data_version=dg.DataVersion(run.summary["mlflow_run_id"]),
        check_results=[champion_gate_result(run.summary["promotions"])],
    )


def champion_gate_result(promotions: list[dict[str, Any]]) -> dg.AssetCheckResult:
    """The champion gate as an asset check: fails (WARN) naming each challenger that did not beat its champion."""
    losers = [p for p in promotions if not p["promoted"]]
    return dg.AssetCheckResult(
        check_name=CHAMPION_GATE.name,
        passed=not losers,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(p["reason"] for p in losers) or f"{len(promotions)} trained, all champions",
        metadata={"trained": len(promotions), "stayed_challenger": [p["name"] for p in losers]},
    )


def training_metadata(summary: dict[str, Any], log: str) -> dict[str, Any]:
    """What the Dagster UI shows for a training run: scores, champion decisions, where to look further."""
    metrics = summary["metrics"]
    scores = {
        key: float(metrics[key])
        for key in (
            "gate.accuracy",
            "system.accuracy",
            "system_top2.accuracy",
            "dense.accuracy",
            "routing.utilisation_cv",
        )
        if key in metrics
    }
    champions = {
        p["name"]: {"version": p["challenger"], "promoted": p["promoted"], "reason": p["reason"]}
        for p in summary["promotions"]
    }
    return {
        **scores,
        "mlflow_run_id": summary["mlflow_run_id"],
        "data_version": summary["data_version"],
        "champions": dg.MetadataValue.json(champions),
        "reused": dg.MetadataValue.json(summary["reused"]),
        "skipped": dg.MetadataValue.json(summary["skipped"]),
        "log": dg.MetadataValue.path(log),
        "summary": dg.MetadataValue.path(str(Path(log).with_suffix(".json"))),
    }
