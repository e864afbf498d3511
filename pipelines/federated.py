"""Kubeflow pipeline `federated`: data -> federated training (Flower) -> register with the champion gate.

Simulated organisations hold non-IID shares of the classification task and train the gate and expert heads
together (FedAvg or FedProx, optionally SecAgg+ and central DP); the result is registered in MLflow as
`aiprime-federated-heads` with the epsilon it spent. Wiring only: the steps are `components/prepare_data`,
`components/train_federated` and `components/register_federated`. Compiled to `pipelines/compiled/federated.yaml`
by `python -m aiprime.training.kubeflow` (make pipelines); run here with kfp.local like `moe_training`.
"""

from pathlib import Path

from kfp import dsl

from aiprime.training.kubeflow import load_component
from aiprime.versioning import find_repo_root

ROOT = find_repo_root(Path(__file__).parent)
prepare_data = load_component("prepare_data", ROOT)
train_federated = load_component("train_federated", ROOT)
register_federated = load_component("register_federated", ROOT)

CLUSTER_MLFLOW = "http://mlflow.aiprime.svc.cluster.local:5000"  # kustomize/base/mlflow, seen from KFP


@dsl.pipeline(
    name="federated", description="Federated training of AI Prime's gate and expert heads with Flower."
)
def federated(
    repo_root: str = "/app",
    mlflow_uri: str = CLUSTER_MLFLOW,
    code_version: str = "unknown",
    limit: int = 0,
    clients: int = 10,
    alpha: float = 0.3,
    rounds: int = 20,
    strategy: str = "fedavg",
    secagg: bool = False,
    dp_epsilon: float = 0.0,
    seed: int = 0,
    threads: int = 2,
    embedding_cache: str = "/tmp/aiprime/embeddings",
    experiment: str = "aiprime-federated",
) -> str:
    """The pipeline's output is `register_federated`'s JSON summary (version, champion decision, epsilon)."""
    data = prepare_data(  # no sense questions: they train the gate, which this pipeline does not
        repo_root=repo_root, limit=limit, embedding_cache=embedding_cache, threads=threads, questions=0
    )
    trained = train_federated(
        train=data.outputs["train"],
        val=data.outputs["val"],
        test=data.outputs["test"],
        repo_root=repo_root,
        clients=clients,
        alpha=alpha,
        rounds=rounds,
        strategy=strategy,
        secagg=secagg,
        dp_epsilon=dp_epsilon,
        seed=seed,
    )
    trained.set_cpu_request("2").set_memory_request("4G").set_memory_limit("8G")
    registered = register_federated(
        model=trained.outputs["model"],
        val=data.outputs["val"],
        mlflow_uri=mlflow_uri,
        experiment=experiment,
        data_version=data.outputs["data_version"],
        code_version=code_version,
        pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    registered.set_retry(3, backoff_duration="30s", backoff_factor=2)
    return registered.output
