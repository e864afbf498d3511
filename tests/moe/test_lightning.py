"""Lightning `fit`: it learns, keeps the best checkpoint, is deterministic, and hands back a plain module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aiprime.errors import InvalidInput
from aiprime.moe.layers import MoEConfig
from aiprime.moe.lightning import TrainConfig, fit
from aiprime.moe.networks import ExpertConfig, ExpertNet, load_model

pytestmark = pytest.mark.slow

CONFIG = ExpertConfig(d_in=16, n_classes=3, n_layers=1, moe=MoEConfig(d_model=16, d_hidden=16, n_experts=4))
TRAIN = TrainConfig(lr=1e-2, batch_size=64, patience=3, num_threads=1)


def separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs in 16 dimensions (the same centres for every seed)."""
    centres = np.random.default_rng(0).normal(size=(3, 16)) * 3
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (centres[y] + rng.normal(size=(n, 16))).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExpertNet, dict, Path]:
    """One fit shared by the tests of this module."""
    out_dir = tmp_path_factory.mktemp("fit")
    model, history = fit(
        *separable(384, 1), *separable(128, 2), CONFIG, seed=0, max_epochs=8, out_dir=out_dir, train=TRAIN
    )
    return model, history, out_dir


def test_fit_learns_a_separable_problem(fitted: tuple[ExpertNet, dict, Path]) -> None:
    model, history, _ = fitted
    x, y = separable(256, 3)
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(x)).logits.argmax(dim=-1).numpy() == y).mean()
    assert accuracy > 0.9, f"held-out accuracy {accuracy:.3f}; history {history['epochs']}"
    assert not model.training and isinstance(model, ExpertNet)


def test_fit_returns_the_best_epoch_not_the_last(tmp_path: Path) -> None:
    x, y = separable(192, 8)
    x_val, y_val = separable(64, 9)
    y_val = (y_val + 1) % 3  # val labels that disagree with train: val loss rises as training succeeds
    model, history = fit(x, y, x_val, y_val, CONFIG, seed=0, max_epochs=6, out_dir=tmp_path, train=TRAIN)
    losses = [e["val_loss"] for e in history["epochs"]]
    assert history["best_epoch"] == losses.index(min(losses)) < len(losses) - 1, f"val losses {losses}"
    with torch.no_grad():
        logits = model(torch.from_numpy(x_val)).logits
    val_loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_val)).item()
    assert val_loss == pytest.approx(history["best_val_loss"], rel=1e-5), (
        f"got {val_loss}, val losses {losses}"
    )


def test_saved_model_round_trips_identical_outputs(fitted: tuple[ExpertNet, dict, Path]) -> None:
    model, history, out_dir = fitted
    assert Path(history["model_path"]) == out_dir / "model.pt"
    loaded = load_model(out_dir / "model.pt")
    x = torch.from_numpy(separable(32, 4)[0])
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, model(x).logits)


def test_fit_with_the_same_seed_gives_the_same_weights(tmp_path: Path) -> None:
    data = (*separable(128, 5), *separable(64, 6))
    runs = [
        fit(*data, CONFIG, seed=7, max_epochs=2, out_dir=tmp_path / str(i), train=TRAIN)[0] for i in range(2)
    ]
    for (name, a), b in zip(runs[0].state_dict().items(), runs[1].state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{name} differs between two runs with seed 7"


def test_fit_rejects_labels_the_model_cannot_output(tmp_path: Path) -> None:
    x, y = separable(16, 7)
    with pytest.raises(InvalidInput, match="n_classes"):
        fit(x, y + 5, x, y, CONFIG, seed=0, max_epochs=1, out_dir=tmp_path)
