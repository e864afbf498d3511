"""Lightning training for the mixture-of-experts networks: one thin LightningModule and a `fit` function.

`fit` takes numpy arrays, trains on CPU with fixed seeds (deterministic), keeps the best checkpoint by
validation loss, stops early, and hands back the plain `nn.Module` with the best weights, saved with
`save_model` beside the checkpoints so that serving never imports Lightning.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from aiprime.errors import InvalidInput
from aiprime.moe.config import TrainConfig  # re-exported: fit's settings
from aiprime.moe.networks import DenseConfig, ExpertConfig, GateConfig, build_model, n_outputs, save_model


class ClassifierModule(L.LightningModule):
    """Trains any of GateNet, ExpertNet, DenseBaseline: cross-entropy plus the model's auxiliary loss."""

    def __init__(self, model: nn.Module, train: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.train_config = train

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the wrapped model."""
        return self.model(x).logits

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy + auxiliary loss; logs both and the share of dropped assignments."""
        x, y = batch
        out = self.model(x)
        ce = F.cross_entropy(out.logits, y)
        self.log_dict({"train_ce": ce, "train_aux": out.aux_loss}, on_step=False, on_epoch=True)
        if out.moe:
            routed = sum(int(r.routed_counts.sum()) for r in out.moe)
            dropped = sum(int(r.n_dropped) for r in out.moe) / routed
            self.log("train_dropped_frac", dropped, on_step=False, on_epoch=True)
        self.log("train_loss", ce + out.aux_loss, on_step=False, on_epoch=True)
        return ce + out.aux_loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Logs val_loss (cross-entropy only: what checkpointing and early stopping watch) and val_acc."""
        x, y = batch
        logits = self.model(x).logits
        self.log("val_loss", F.cross_entropy(logits, y), on_epoch=True, prog_bar=False)
        self.log("val_acc", (logits.argmax(dim=-1) == y).float().mean(), on_epoch=True)

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW under a one-cycle schedule over all planned steps; the decay lets routing settle."""
        cfg = self.train_config
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            total_steps=max(self.trainer.estimated_stepping_batches, 1),
            pct_start=0.1,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class History(Callback):
    """Collects each epoch's metrics once its training and validation are both done."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Record this epoch's metrics."""
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.epochs.append({"epoch": trainer.current_epoch, **metrics})


def loader(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> DataLoader:
    """A single-process DataLoader; shuffled by its own seeded generator when `seed` is given.

    Each batch is gathered with one index per tensor rather than row by row and stacked: the same batches
    in the same order as `DataLoader(shuffle=...)` draws them, without its per-row cost.
    """
    data = TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    order = SequentialSampler(data) if seed is None else RandomSampler(data, generator=generator)
    batches = BatchSampler(order, batch_size, drop_last=False)
    # the loader draws its base seed from the generator too, before each epoch's permutation, as before
    return DataLoader(data, sampler=batches, batch_size=None, generator=generator, num_workers=0)


def check_arrays(x: np.ndarray, y: np.ndarray, config: Any, name: str) -> None:
    """Raise InvalidInput unless x is (N, width) and y holds N labels in [0, n_outputs)."""
    x, y = np.asarray(x), np.asarray(y)
    width = getattr(config, "width", config.d_in)  # a gate's row: its n_inputs embeddings side by side
    if x.ndim != 2 or x.shape[1] != width or len(x) != len(y) or len(x) == 0:
        raise InvalidInput(
            f"{name}: expected X (N, {width}) and y (N,), got {x.shape} and {y.shape}. "
            "Embed the texts with aiprime.moe.embeddings.embed_texts."
        )
    if y.min() < 0 or y.max() >= n_outputs(config):
        raise InvalidInput(
            f"{name}: labels span [{y.min()}, {y.max()}] but the model has {n_outputs(config)} outputs. "
            "Encode labels as 0..C-1 and set n_classes (or n_domains) to C."
        )


@contextlib.contextmanager
def torch_settings(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` intra-op threads; restore those and the determinism flag after.

    Lightning's `deterministic=True` switches on torch's deterministic algorithms process-wide; the
    caller's other work should not inherit that.
    """
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads or before[0])
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence warnings that are expected here: single-process loaders are deliberate."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning's own use of a torch API
        yield


def make_trainer(out_dir: Path, max_epochs: int, patience: int, history: History) -> L.Trainer:
    """A deterministic single-CPU Trainer that keeps the best checkpoint by val_loss and stops early."""
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="best",
        monitor="val_loss",
        mode="min",
        save_weights_only=True,
    )
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        deterministic=True,
        max_epochs=max_epochs,
        callbacks=[checkpoint, EarlyStopping(monitor="val_loss", mode="min", patience=patience), history],
        logger=L.pytorch.loggers.CSVLogger(out_dir, name="logs"),
        default_root_dir=out_dir,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )


def load_best(model: nn.Module, checkpoint_path: str) -> nn.Module:
    """`model` with the weights of a Lightning checkpoint of `ClassifierModule`, in eval mode."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    return model.eval()


def fit(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: GateConfig | ExpertConfig | DenseConfig,
    seed: int,
    max_epochs: int,
    out_dir: Path,
    train: TrainConfig | None = None,
    init: nn.Module | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train the network `config` describes and return it with its best weights, and a history.

    `init` is a module of that config to start from (an upcycled expert); None: `config`'s random init.

    The same inputs, seed and thread count give the same weights (CPU, deterministic algorithms,
    single-process loading).
    Writes `out_dir/checkpoints/best*.ckpt`, `out_dir/logs/` (CSV metrics) and `out_dir/model.pt`.

    Returns:
        The plain module in eval mode, and a dict with per-epoch metrics (`epochs`), `best_val_loss`,
        `best_epoch`, `checkpoint` and `model_path`.
    """
    train = train or TrainConfig()
    check_arrays(X_train, y_train, config, "train")
    check_arrays(X_val, y_val, config, "val")
    out_dir = Path(out_dir)
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_model(config) if init is None else init
    history = History()
    with torch_settings(train.num_threads), quiet_lightning():
        trainer = make_trainer(out_dir, max_epochs, train.patience, history)
        trainer.fit(
            ClassifierModule(model, train),
            loader(X_train, y_train, train.batch_size, seed),
            loader(X_val, y_val, train.batch_size, None),
        )
    best = trainer.checkpoint_callback.best_model_path
    model = load_best(model, best)
    model_path = save_model(model, out_dir / "model.pt", {"train": asdict(train), "seed": seed})
    scores = [e["val_loss"] for e in history.epochs]
    best_epoch = int(np.argmin(scores))
    return model, {
        "epochs": history.epochs,
        "best_epoch": best_epoch,
        "best_val_loss": scores[best_epoch],
        "checkpoint": best,
        "model_path": str(model_path),
    }
