"""Tiny mixture-of-experts fixtures shared by tests/moe and tests/training: synthetic splits, fast fits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import TaskSplit, fine_classes
from aiprime.moe.experts import EXPERTS


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> Iterator[None]:
    """Run the tiny tensors here on one thread: on a shared 2-core box more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_split(rng: np.random.Generator, classes: dict, centres: dict, per_class: int) -> TaskSplit:
    """Rows around one centre per lexname, labelled with the real lexname and its domain."""
    rows = [
        (lex, domain) for domain, lexnames in classes.items() for lex in lexnames for _ in range(per_class)
    ]
    x = np.stack([centres[lex] + rng.normal(size=384) * 0.6 for lex, _ in rows])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = np.array([f"t{rng.integers(1 << 30):09d}" for _ in rows])
    return TaskSplit(x, ids, np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))


@pytest.fixture(scope="session")
def tiny_splits() -> dict[str, TaskSplit]:
    """Train/val/test splits of synthetic 384-dim embeddings labelled with two real lexnames per domain."""
    classes = {domain: lexnames[:2] for domain, lexnames in fine_classes().items()}
    rng = np.random.default_rng(0)
    centres = {lex: rng.normal(size=384) for lexnames in classes.values() for lex in lexnames}
    sizes = {"train": 24, "val": 8, "test": 8}
    return {
        name: tiny_split(np.random.default_rng(i + 1), classes, centres, n)
        for i, (name, n) in enumerate(sizes.items())
    }


@pytest.fixture(scope="session")
def tiny_run() -> RunConfig:
    """Settings for fits of a few seconds: three epochs, a high learning rate, one thread."""
    return RunConfig(
        max_epochs=3, seed=0, train=TrainConfig(lr=1e-2, batch_size=64, patience=3, num_threads=1)
    )


@pytest.fixture(scope="session")
def tiny_models(
    tmp_path_factory: pytest.TempPathFactory, tiny_splits: dict, tiny_run: RunConfig
) -> dict[str, Path]:
    """Model folders trained on `tiny_splits`: "gate", "dense" and each expert by name."""
    root = tmp_path_factory.mktemp("tiny-models")
    train, val = tiny_splits["train"], tiny_splits["val"]
    folders = {
        "gate": fitting.train_gate(train, val, root / "gate", tiny_run),
        "dense": fitting.train_dense(train, val, root / "dense", tiny_run),
    }
    for spec in EXPERTS:
        folders[spec.name] = fitting.train_expert(
            spec, train, val, root / spec.name, tiny_run, dense=folders["dense"]
        )
    return folders
