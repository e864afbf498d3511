"""KFP component `plan_training`: what this run trains, and which champions it reuses from MLflow."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def plan_training(
    train: Input[Dataset],
    val: Input[Dataset],
    data_version: str,
    mlflow_uri: str,
    limit: int,
    max_epochs: int,
    lr: float,
    seed: int,
    threads: int,
    retrain: bool,
    plan: Output[Artifact],
    questions_version: str = "",
) -> list[str]:
    """Compare this run's fingerprints with the champions' in MLflow (`aiprime.training.planning.plan_run`).

    New or changed models are trained; the others reuse their champion; `retrain` trains everything.
    `questions_version` (prepare_data's) is part of the gate's fingerprint: new sense questions retrain it.
    Writes the plan (JSON) to `plan`, which every later step reads.

    Returns:
        The experts of this run (trained or reused), one ParallelFor iteration each.
    """
    from pathlib import Path

    from aiprime.moe.dataset import TaskSplit
    from aiprime.training.planning import describe, plan_run, run_config

    run = run_config(max_epochs=max_epochs, lr=lr, seed=seed, threads=threads)
    decided = plan_run(
        TaskSplit.load(Path(train.path)),
        TaskSplit.load(Path(val.path)),
        mlflow_uri,
        data_version,
        run,
        limit=limit,
        retrain=retrain,
        questions_version=questions_version,
    )
    Path(plan.path).write_text(decided.to_json())
    plan.metadata.update(describe(decided))
    print(f"plan: {describe(decided)}")
    return decided.experts
