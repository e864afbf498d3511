"""KFP component `register_federated`: the federated heads into MLflow as challenger, champion by the gate."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def register_federated(
    model: Input[Model],
    val: Input[Dataset],
    mlflow_uri: str,
    experiment: str,
    data_version: str,
    code_version: str,
    pipeline_run_id: str,
) -> str:
    """Log the run (scores, epsilon spent), register `aiprime-federated-heads` as challenger, gate champion.

    Returns:
        A JSON summary: the registered name and version, the champion decision and the epsilon spent.
    """
    import json
    from pathlib import Path

    from aiprime.federated.registration import Lineage, register_federated_split

    lineage = Lineage(data_version, code_version, pipeline_run_id)
    summary = register_federated_split(mlflow_uri, Path(model.path), Path(val.path), lineage, experiment)
    print(summary["reason"])
    return json.dumps(summary)
