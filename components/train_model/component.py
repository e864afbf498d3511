"""KFP component `train_model`: one model of the mixture (the gate, an expert or the dense baseline)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_model(
    name: str,
    train: Input[Dataset],
    val: Input[Dataset],
    plan: Input[Artifact],
    mlflow_uri: str,
    model: Output[Model],
    dense: Input[Model] = None,
    train_questions: Input[Dataset] = None,
    val_questions: Input[Dataset] = None,
) -> None:
    """Train model `name` ("gate", "dense" or an expert's name), or copy its champion when the plan reuses it.

    `dense` is this run's dense model, which an upcycled expert starts from (the gate and dense steps omit it).
    `train_questions` and `val_questions` are the sense questions the gate trains on besides the glosses
    (only the gate's step passes them).
    `model` is a folder holding `model.pt`; its metadata says the registry role and whether this run trained it.
    """
    from pathlib import Path

    from aiprime.training.planning import RunPlan, train_or_reuse

    decided = RunPlan.from_json(Path(plan.path).read_text())
    source = Path(dense.path) if dense is not None else None
    asked = None
    if train_questions is not None and val_questions is not None:
        asked = (Path(train_questions.path), Path(val_questions.path))
    model.metadata.update(
        train_or_reuse(
            decided,
            name,
            Path(train.path),
            Path(val.path),
            mlflow_uri,
            Path(model.path),
            dense=source,
            questions=asked,
        )
    )
