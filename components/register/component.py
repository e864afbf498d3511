"""KFP component `register`: newly trained models into MLflow as challengers, champions moved by the gate."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def register(
    gate: Input[Model],
    experts: Input[list[Model]],
    dense: Input[Model],
    val: Input[Dataset],
    plan: Input[Artifact],
    metrics: Input[Metrics],
    mlflow_uri: str,
    experiment: str,
    evaluation_run_id: str,
    code_version: str,
    pipeline_run_id: str,
) -> str:
    """Register every model this run trained (aliased `challenger`, tagged with data, code and run versions).

    `champion` moves to a challenger only if it beats the current champion, both scored here on the
    validation split. Reused champions are left as they are.

    Returns:
        A JSON summary: the MLflow run, the test metrics, the promotion decisions and the reused models.
    """
    import json
    from pathlib import Path

    from aiprime.moe.dataset import TaskSplit
    from aiprime.training.planning import RunPlan
    from aiprime.training.registration import Lineage, promotion_record, register_candidate

    decided = RunPlan.from_json(Path(plan.path).read_text())
    split = TaskSplit.load(Path(val.path))
    lineage = Lineage(decided.data_version, code_version, pipeline_run_id)
    models = [gate, *experts, dense]
    promotions = [
        promotion_record(
            register_candidate(mlflow_uri, Path(m.path), split, lineage, evaluation_run_id, experiment)
        )
        for m in models
        if m.metadata.get("trained")
    ]
    for promotion in promotions:
        print(promotion["reason"])
    reused = [m.metadata["role"] for m in models if not m.metadata.get("trained")]
    return json.dumps(
        {
            "mlflow_run_id": evaluation_run_id,
            "data_version": decided.data_version,
            "metrics": dict(metrics.metadata),
            "promotions": promotions,
            "reused": reused,
            "skipped": decided.skip,
        }
    )
