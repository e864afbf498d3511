"""Launching the `moe-training` pipeline: here with kfp.local, or on a Kubeflow Pipelines server.

`aiprime train` and the Dagster asset `moe_models` both call `train_here`, so a run started from the
command line and one started from the Dagster UI are the same run: the committed compiled YAML, the same
arguments, the same MLflow experiment and champion gate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiprime.errors import ConfigError
from aiprime.settings import Settings
from aiprime.training import kubeflow
from aiprime.training.kubeflow import EXPERIMENT


@dataclass(frozen=True)
class TrainOptions:
    """The pipeline parameters a user chooses (the rest come from the checkout and the settings)."""

    limit: int = 0  # at most N rows per (split, lexname); 0 = the full data
    max_epochs: int = 30  # epochs at most per model; early stopping may end sooner
    lr: float = 1e-3  # peak AdamW learning rate (one-cycle schedule)
    seed: int = 0  # base seed; each expert derives its own from it and its name
    threads: int = 2  # torch threads per step (0: torch's default); fits run two at a time, half each
    retrain: bool = False  # train every model, even those whose champion is current


def check_compiled(root: Path) -> None:
    """Raise ConfigError when a committed pipeline YAML no longer matches its source."""
    stale = kubeflow.stale_pipelines(root)
    if stale:
        raise ConfigError(
            f"pipelines/compiled/{stale[0]}.yaml differs from pipelines/{stale[0]}.py. "
            "Recompile it with `python -m aiprime.training.kubeflow` (make pipelines)."
        )


def arguments(options: TrainOptions, root: Path) -> dict[str, Any]:
    """The pipeline's parameters for `options` and the checkout at `root` (its git sha as code version)."""
    return asdict(options) | {"code_version": kubeflow.code_version(root)}


def train_here(
    settings: Settings,
    root: Path,
    options: TrainOptions,
    on_task: Callable[[str, str], None] = lambda task, state: None,
) -> tuple[dict[str, Any], Path]:
    """Run the compiled pipeline with kfp.local against the running MLflow; its summary and its log file.

    The summary is also written beside the log (`logs/train-<time>.json`).

    The services must be up (`stack.up`). The summary is `register`'s JSON output: `metrics`, `promotions`,
    `reused`, `skipped`, `mlflow_run_id`, `data_version`.

    Raises:
        ConfigError: the compiled YAML is stale.
        StageFailed: a task failed (its output is in the log).
    """
    check_compiled(root)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.log_dir / f"train-{time.strftime('%Y%m%d-%H%M%S')}.log"
    values = arguments(options, root) | {
        "repo_root": str(root),
        "mlflow_uri": settings.mlflow_url,
        "embedding_cache": str(settings.home / "embeddings"),
    }
    with log_path.open("w") as log:
        output = kubeflow.run_local(
            kubeflow.compiled_path(root=root), values, settings.home / "kfp", log, on_task
        )
    log_path.with_suffix(".json").write_text(output)
    return json.loads(output), log_path


def submit(settings: Settings, root: Path, options: TrainOptions, host: str) -> str:
    """Submit the compiled pipeline to the Kubeflow Pipelines server at `host`; the run id."""
    check_compiled(root)
    values = arguments(options, root)
    if settings.mlflow_tracking_uri:  # else the pipeline's default: MLflow inside the cluster
        values["mlflow_uri"] = settings.mlflow_tracking_uri
    return kubeflow.submit(
        host,
        kubeflow.compiled_path(root=root),
        values,
        EXPERIMENT,
        f"moe-training {time.strftime('%Y-%m-%d %H:%M:%S')}",
    )
