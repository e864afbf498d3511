"""Fixtures of the components' tests: tiny real arrays, KFP artifacts under tmp_path, a SQLite-backed MLflow.

Each test calls a component's `python_func` directly, the way its task runs it, on real small objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kfp import dsl
from mlflow import MlflowClient

from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import TABLE, TaskSplit, file_md5, fine_classes
from aiprime.moe.experts import EXPERTS, GATE
from aiprime.training import planning
from aiprime.training.kubeflow import EXPERIMENT, load_component

REPO = Path(__file__).resolve().parents[1]
TINY_EXPERTS = ("living", "actions")  # the experts trained for the tests that need a system
RUN = RunConfig(max_epochs=3, seed=0, train=TrainConfig(lr=1e-2, batch_size=64, patience=3, num_threads=1))


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny tensors on one thread: on a shared 2-core box more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def component() -> Callable[[str], Callable]:
    """`component(name)`: the Python function of `components/<name>/component.py`."""
    return lambda name: load_component(name, REPO).python_func


@pytest.fixture
def artifact(tmp_path: Path) -> Callable:
    """`artifact(dsl.Model, "model", metadata)`: a KFP artifact whose path is under this test's tmp_path."""

    def make(cls: type, name: str, metadata: dict | None = None):
        return cls(name=name, uri=str(tmp_path / "artifacts" / name), metadata=dict(metadata or {}))

    (tmp_path / "artifacts").mkdir()
    return make


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh SQLite-backed MLflow store (registry names are global to a store)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(uri).create_experiment(EXPERIMENT, artifact_location=str(tmp_path / "mlflow-artifacts"))
    return uri


@pytest.fixture(scope="session")
def splits() -> dict[str, TaskSplit]:
    """Synthetic 384-dim embeddings around one centre per lexname, two real lexnames per domain."""
    classes = {domain: lexnames[:2] for domain, lexnames in fine_classes().items()}
    rng = np.random.default_rng(0)
    centres = {lex: rng.normal(size=384) for lexnames in classes.values() for lex in lexnames}
    rows = [(lex, domain) for domain, lexnames in classes.items() for lex in lexnames]
    out = {}
    for i, (name, per_class) in enumerate({"train": 16, "val": 6, "test": 6}.items()):
        labels = [row for row in rows for _ in range(per_class)]
        noise = np.random.default_rng(i + 1).normal(size=(len(labels), 384)) * 0.6
        x = np.stack([centres[lex] for lex, _ in labels]) + noise
        x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        ids = np.array([f"{name}{j}" for j in range(len(labels))])
        out[name] = TaskSplit(x, ids, np.array([r[0] for r in labels]), np.array([r[1] for r in labels]))
    return out


@pytest.fixture
def datasets(splits: dict[str, TaskSplit], artifact: Callable) -> dict[str, dsl.Dataset]:
    """The splits written as the Dataset artifacts prepare_data outputs."""
    written = {}
    for name, split in splits.items():
        written[name] = artifact(dsl.Dataset, name, {"rows": len(split)})
        split.save(Path(written[name].path))
    return written


def plan(
    train: tuple[str, ...] = (),
    keep: tuple[str, ...] = (),
    gate: bool = True,
    dense: bool = True,
    run: RunConfig = RUN,
) -> planning.RunPlan:
    """A plan as plan_training writes it, for data version `md5-test`."""
    return planning.RunPlan(
        data_version="md5-test",
        limit=0,
        run=dataclasses.asdict(run),
        fingerprints=planning.run_fingerprints(EXPERTS, "md5-test|limit=0", run),
        gate=gate,
        dense=dense,
        train=train,
        keep=keep,
    )


@pytest.fixture(scope="session")
def make_plan() -> Callable[..., planning.RunPlan]:
    """`make_plan(train=..., keep=..., gate=..., dense=...)`: a plan as plan_training writes it."""
    return plan


@pytest.fixture(scope="session")
def make_checkout() -> Callable[[Path, pd.DataFrame], Path]:
    """`make_checkout(root, table)`: a minimal DVC checkout pinning `table` as the classification split."""
    return mini_checkout


@pytest.fixture
def plan_artifact(artifact: Callable) -> Callable[[planning.RunPlan], dsl.Artifact]:
    """`plan_artifact(plan)`: the plan written as plan_training's `plan` output."""

    def write(decided: planning.RunPlan) -> dsl.Artifact:
        written = artifact(dsl.Artifact, "plan")
        Path(written.path).write_text(decided.to_json())
        return written

    return write


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, splits: dict[str, TaskSplit]) -> dict[str, Path]:
    """Model folders fitted on the tiny splits: "gate", "dense" and the experts in TINY_EXPERTS."""
    root = tmp_path_factory.mktemp("trained")
    prints = plan().fingerprints
    train, val = splits["train"], splits["val"]
    folders = {
        "gate": fitting.train_gate(train, val, root / "gate", RUN, fingerprint=prints[GATE]),
        "dense": fitting.train_dense(train, val, root / "dense", RUN, fingerprint=prints[planning.DENSE]),
    }
    for name in TINY_EXPERTS:
        spec = fitting.spec_named(name)
        folders[name] = fitting.train_expert(
            spec, train, val, root / name, RUN, fingerprint=prints[name], dense=folders["dense"]
        )
    return folders


@pytest.fixture
def models(trained: dict[str, Path], artifact: Callable) -> dict[str, dsl.Model]:
    """The trained folders as the Model artifacts the train steps output (all marked as trained this run)."""
    roles = {"gate": "gate", "dense": "dense"} | {name: f"expert-{name}" for name in TINY_EXPERTS}
    return {
        key: dsl.Model(name=key, uri=str(folder), metadata={"role": roles[key], "trained": True})
        for key, folder in trained.items()
    }


def mini_checkout(root: Path, table: pd.DataFrame) -> Path:
    """A minimal DVC checkout whose data/dvc.lock pins `table` as the classification split."""
    (root / ".dvc").mkdir(parents=True)
    (root / "data" / "splits").mkdir(parents=True)
    (root / "data" / "dvc.yaml").write_text("stages: {}\n")
    table.to_parquet(root / "data" / TABLE)
    outs = [{"path": TABLE, "hash": "md5", "md5": file_md5(root / "data" / TABLE)}]
    (root / "data" / "dvc.lock").write_text(
        yaml.safe_dump({"schema": "2.0", "stages": {"splits": {"outs": outs}}})
    )
    return root
