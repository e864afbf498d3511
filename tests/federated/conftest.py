"""Fixtures of the federated tests: a small task of real lexnames around synthetic embeddings, the federated venv."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers.tiny_moe import one_torch_thread, tiny_split

from aiprime.federated.heads import Task
from aiprime.federated.runner import VENV, task_from_splits
from aiprime.moe.dataset import fine_classes

__all__ = ["one_torch_thread"]


@pytest.fixture(scope="session")
def small_task() -> Task:
    """Train/val/test rows around one centre per lexname, for three lexnames of every domain."""
    import numpy as np

    classes = {domain: lexnames[:3] for domain, lexnames in fine_classes().items()}
    rng = np.random.default_rng(0)
    centres = {lex: rng.normal(size=384) for lexnames in classes.values() for lex in lexnames}
    sizes = {"train": 40, "val": 10, "test": 10}
    return task_from_splits(
        {
            name: tiny_split(np.random.default_rng(i + 1), classes, centres, n)
            for i, (name, n) in enumerate(sizes.items())
        }
    )


@pytest.fixture(scope="session")
def federated_venv() -> Path:
    """The federated venv that `make federated` (and so `make test`) builds; the tests that need it skip without."""
    if not (VENV / "bin" / "python").is_file():
        pytest.skip(f"{VENV} is missing: run `make federated` (make test does)")
    return VENV
