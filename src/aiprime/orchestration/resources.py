"""Dagster resources: the checkout and the platform's settings, and the trainer that runs `moe-training`.

`definitions.py` builds them once from one `Settings` and picks the trainer by environment: `LocalTrainer`
(kfp.local, on this machine) or `ClusterTrainer` (a Kubeflow Pipelines server, AIPRIME_KFP_HOST). Resources
are an edge of the library: they may start the local services the assets need.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from aiprime.provenance.openlineage import TRAINING_PIPELINE, Emitter, kfp_pipeline_run
from aiprime.services import stack
from aiprime.settings import Settings
from aiprime.training import launch
from aiprime.training.launch import TrainOptions


@dataclass(frozen=True)
class Workspace:
    """The AI Prime checkout (DVC pipeline, data) and the settings that locate its state."""

    root: Path  # the repository root: the folder that holds .dvc/ and data/dvc.yaml
    settings: Settings  # AIPRIME_HOME, the database, MLflow, the RAG collection, ...

    def app_db(self) -> Engine:
        """The `aiprime` database, started (when embedded) and migrated first."""
        return stack.ready_app_db(self.settings)

    def server_url(self) -> str:
        """The PostgreSQL server's URL, starting the embedded server when it is not running."""
        return stack.server_url(self.settings)


@dataclass(frozen=True)
class TrainingRun:
    """What a trainer reports: the KFP run it started, or the summary and log of the run it finished here."""

    kfp_host: str | None = None  # where a submitted run runs
    kfp_run_id: str | None = None
    summary: dict[str, Any] | None = None  # `register`'s JSON output (metrics, promotions, reused, ...)
    log: Path | None = None


class Trainer(ABC):
    """Runs the `moe-training` pipeline for the `moe_models` asset."""

    @abstractmethod
    def train(
        self, workspace: Workspace, options: TrainOptions, on_task: Callable[[str, str], None]
    ) -> TrainingRun:
        """Run (or start) one training run with `options`; `on_task(task, state)` follows a local run."""


@dataclass(frozen=True)
class LocalTrainer(Trainer):
    """Runs the compiled pipeline here with kfp.local, on the local services (started if needed)."""

    def train(
        self, workspace: Workspace, options: TrainOptions, on_task: Callable[[str, str], None]
    ) -> TrainingRun:
        stack.up(workspace.settings)
        with kfp_pipeline_run(Emitter(workspace.settings), TRAINING_PIPELINE, on_task) as on_task_emitting:
            summary, log = launch.train_here(workspace.settings, workspace.root, options, on_task_emitting)
        return TrainingRun(summary=summary, log=log)


@dataclass(frozen=True)
class ClusterTrainer(Trainer):
    """Submits the compiled pipeline to a Kubeflow Pipelines server; the cluster trains, gates and registers."""

    host: str  # the Kubeflow Pipelines URL (AIPRIME_KFP_HOST)

    def train(
        self, workspace: Workspace, options: TrainOptions, on_task: Callable[[str, str], None]
    ) -> TrainingRun:
        run_id = launch.submit(workspace.settings, workspace.root, options, self.host)
        return TrainingRun(kfp_host=self.host, kfp_run_id=run_id)


def trainer_for(settings: Settings) -> Trainer:
    """The cluster trainer when AIPRIME_KFP_HOST is set, else the local one."""
    return ClusterTrainer(settings.kfp_host) if settings.kfp_host else LocalTrainer()
