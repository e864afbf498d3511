"""KFP component `train_federated`: simulated organisations train the gate and expert heads with Flower."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_federated(
    train: Input[Dataset],
    val: Input[Dataset],
    test: Input[Dataset],
    repo_root: str,
    clients: int,
    alpha: float,
    rounds: int,
    strategy: str,
    secagg: bool,
    dp_epsilon: float,
    seed: int,
    model: Output[Model],
    metrics: Output[Metrics],
) -> str:
    """Split the train rows among `clients` organisations (Dirichlet `alpha`) and train for `rounds` rounds.

    Runs Flower's simulation in the federated venv (`<repo_root>/.venv-federated`, `make federated`).

    Args:
        strategy: "fedavg" or "fedprox".
        secagg: aggregate with Flower's SecAgg+ (5 shares, threshold 4).
        dp_epsilon: central DP's budget (delta 1/N); 0 trains without DP.

    Returns:
        The run's JSON result: per-round scores, refused clients, the privacy spent, validation and test scores.
    """
    import json
    import math
    from pathlib import Path

    from aiprime.federated.config import FederatedConfig
    from aiprime.federated.runner import train_splits

    config = FederatedConfig(clients=clients, alpha=alpha, rounds=rounds, strategy=strategy, secagg=secagg,
                             dp_epsilon=dp_epsilon or math.inf, seed=seed)  # fmt: skip
    Path(model.path).mkdir(parents=True, exist_ok=True)
    splits = {"train": train.path, "val": val.path, "test": test.path}
    result = train_splits(splits, config, Path(model.path), Path(repo_root) / ".venv-federated")
    for key, value in result["test"].items():
        metrics.log_metric(f"test_{key}", value)
    epsilon = (result.get("privacy") or {}).get("epsilon")
    if epsilon is not None:
        metrics.log_metric("dp_epsilon", epsilon)
    model.metadata.update({"role": "federated-heads", "model_version": result["model_version"]})
    return json.dumps(result)
