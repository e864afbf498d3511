"""Kubeflow pipeline `moe-training`: data -> plan -> gate, dense -> experts (ParallelFor) -> evaluate -> register.

The experts are upcycled from the dense model, so their ParallelFor waits for it; the gate trains beside both.

Wiring only: each step is `components/<name>/component.py`, which calls the `aiprime` library. Resources,
retries and caching attach here. Compiled to `pipelines/compiled/moe_training.yaml` by
`python -m aiprime.training.kubeflow`; run with `aiprime train` (locally, or `--host` on a cluster).
"""

from pathlib import Path

from kfp import dsl

from aiprime.moe.dataset import QUESTIONS
from aiprime.moe.experts import GATE
from aiprime.training.kubeflow import load_component
from aiprime.training.planning import DENSE
from aiprime.versioning import find_repo_root

ROOT = find_repo_root(Path(__file__).parent)
prepare_data = load_component("prepare_data", ROOT)
plan_training = load_component("plan_training", ROOT)
train_model = load_component("train_model", ROOT)
evaluate = load_component("evaluate", ROOT)
register = load_component("register", ROOT)

CLUSTER_MLFLOW = (
    "http://mlflow.aiprime.svc.cluster.local:5000"  # kustomize/base/mlflow, seen from KFP's namespace
)


def trainer(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """A training step: CPU-bound, a few GiB, retried once (a preempted node is the usual failure)."""
    return (
        task.set_cpu_request("2")
        .set_cpu_limit("4")
        .set_memory_request("4G")
        .set_memory_limit("8G")
        .set_retry(1)
    )


def client(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """A step that talks to MLflow: small, retried with backoff while the server restarts."""
    return (
        task.set_cpu_limit("2").set_memory_limit("4G").set_retry(3, backoff_duration="30s", backoff_factor=2)
    )


@dsl.pipeline(name="moe-training", description="Train, evaluate and register AI Prime's mixture of experts.")
def moe_training(
    repo_root: str = "/app",
    mlflow_uri: str = CLUSTER_MLFLOW,
    code_version: str = "unknown",
    limit: int = 0,
    max_epochs: int = 30,
    lr: float = 0.001,
    seed: int = 0,
    threads: int = 2,
    retrain: bool = False,
    embedding_cache: str = "/tmp/aiprime/embeddings",
    experiment: str = "aiprime-moe",
    questions: int = QUESTIONS,
) -> str:
    """The pipeline's output is `register`'s JSON summary (metrics, promotions, reused models).

    `questions`: train sense questions the gate trains on besides the glosses (val: a quarter as many), drawn
    with `seed`; 0: glosses only.
    """
    data = trainer(
        prepare_data(
            repo_root=repo_root,
            limit=limit,
            embedding_cache=embedding_cache,
            threads=threads,
            questions=questions,
            seed=seed,
        )
    )
    splits = {"train": data.outputs["train"], "val": data.outputs["val"]}
    plan = client(
        plan_training(
            **splits,
            data_version=data.outputs["data_version"],
            questions_version=data.outputs["questions_version"],
            mlflow_uri=mlflow_uri,
            limit=limit,
            max_epochs=max_epochs,
            lr=lr,
            seed=seed,
            threads=threads,
            retrain=retrain,
        )
    )
    decided = plan.outputs["plan"]
    dense = trainer(train_model(name=DENSE, **splits, plan=decided, mlflow_uri=mlflow_uri))
    dense.set_display_name("train-dense")
    with dsl.ParallelFor(plan.outputs["Output"], parallelism=2) as name:
        expert = trainer(
            train_model(
                name=name, **splits, plan=decided, mlflow_uri=mlflow_uri, dense=dense.outputs["model"]
            )
        )
        expert.set_display_name("train-expert")
    gate = trainer(
        train_model(
            name=GATE,
            **splits,
            plan=decided,
            mlflow_uri=mlflow_uri,
            train_questions=data.outputs["train_questions"],
            val_questions=data.outputs["val_questions"],
        )
    )
    gate.set_display_name("train-gate")
    scored = client(
        evaluate(
            gate=gate.outputs["model"],
            experts=dsl.Collected(expert.outputs["model"]),
            dense=dense.outputs["model"],
            test=data.outputs["test"],
            plan=decided,
            mlflow_uri=mlflow_uri,
            experiment=experiment,
            code_version=code_version,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
    )
    registered = client(
        register(
            gate=gate.outputs["model"],
            experts=dsl.Collected(expert.outputs["model"]),
            dense=dense.outputs["model"],
            val=data.outputs["val"],
            plan=decided,
            metrics=scored.outputs["metrics"],
            mlflow_uri=mlflow_uri,
            experiment=experiment,
            evaluation_run_id=scored.outputs["Output"],
            code_version=code_version,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
    )
    for task in (data, plan, expert, gate, dense, scored, registered):
        task.set_caching_options(
            False
        )  # plans and champions live in MLflow: identical inputs may mean new work
    return registered.output
