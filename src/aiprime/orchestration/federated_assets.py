"""Federated assets: the gate and expert heads trained by simulated organisations (the `federated` KFP pipeline).

Materialising `federated_heads` runs the committed pipeline `pipelines/compiled/federated.yaml` with kfp.local:
the classification splits, Flower's simulation in the federated venv (`make federated`), and the champion
gate of `aiprime-federated-heads` in MLflow. It is its own job (`federated`), outside `everything`: `aiprime
run` does not build the federated venv, and federated training is asked for, not implied.
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings
from aiprime.training import kubeflow

GROUP = "federated"
PIPELINE = "federated"


class FederatedTrainingConfig(dg.Config):
    """The pipeline parameters of a federated run."""

    limit: int = Field(0, ge=0, description="At most N rows per (split, lexname); 0 uses all the data.")
    clients: int = Field(10, ge=2, description="Simulated organisations.")
    alpha: float = Field(0.3, gt=0, description="Dirichlet concentration of their class shares (non-IID).")
    rounds: int = Field(20, ge=1, description="Federated rounds (two local epochs each).")
    strategy: str = Field("fedavg", pattern="^(fedavg|fedprox)$", description="fedavg or fedprox.")
    secagg: bool = Field(False, description="Aggregate with Flower's SecAgg+ (5 shares, threshold 4).")
    dp_epsilon: float = Field(0.0, ge=0, description="Central DP budget at delta 1/N; 0 trains without DP.")
    seed: int = Field(0, description="Seed of the shares and the initial weights.")


def train_federated_here(
    settings: Settings, root: Path, values: dict[str, Any]
) -> tuple[dict[str, Any], Path]:
    """Run the compiled `federated` pipeline with kfp.local against the running MLflow; its summary and log."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.log_dir / f"federated-{time.strftime('%Y%m%d-%H%M%S')}.log"
    arguments = values | {
        "repo_root": str(root),
        "mlflow_uri": settings.mlflow_url,
        "embedding_cache": str(settings.home / "embeddings"),
        "code_version": kubeflow.code_version(root),
    }
    with log_path.open("w") as log:
        output = kubeflow.run_local(
            kubeflow.compiled_path(PIPELINE, root), arguments, settings.home / "kfp", log
        )
    return json.loads(output), log_path


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("classification")],
    kinds={"kubeflow", "mlflow", "pytorch"},
)
def federated_heads(
    context: dg.AssetExecutionContext, config: FederatedTrainingConfig, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The gate and expert heads trained with Flower by simulated organisations, registered in MLflow with the
    epsilon they spent (`aiprime-federated-heads`, champion/challenger)."""
    summary, log = train_federated_here(workspace.settings, workspace.root, config.model_dump())
    context.log.info(summary["reason"])
    return dg.MaterializeResult(
        metadata={
            "test_macro_f1": float(summary["test"]["macro_f1"]),
            "val_macro_f1": float(summary["val_macro_f1"]),
            "dp_epsilon": summary["dp_epsilon"],
            "registered": f"{summary['name']} v{summary['version']}",
            "promoted": summary["promoted"],
            "reason": summary["reason"],
            "log": dg.MetadataValue.path(str(log)),
        },
        data_version=dg.DataVersion(f"{summary['name']}@{summary['version']}"),
    )


federated_job = dg.define_asset_job(
    "federated",
    selection=dg.AssetSelection.groups(GROUP),
    description="Federated training of the heads with Flower (needs `make federated`).",
)
