"""Local training and scoring of the federated heads: what one organisation runs, and what the server scores.

Torch and numpy only (the federated venv has no scikit-learn), so macro-F1 is computed here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch

from aiprime.federated.heads import Heads, Task, new_heads
from aiprime.federated.privacy import RecordPlan


@dataclass(frozen=True)
class LocalConfig:
    """One organisation's training in one round."""

    epochs: int = 1  # passes over the local share per round
    lr: float = 0.05  # SGD learning rate (momentum 0.9)
    batch_size: int = 256
    proximal_mu: float = 0.0  # FedProx: weight of ||w - w_global||^2 / 2; 0 is FedAvg
    seed: int = 0


def train_local(model: Heads, x: np.ndarray, y: np.ndarray, config: LocalConfig) -> float:
    """Train `model` in place on (x, y) for `config.epochs`; the mean loss of the last epoch.

    With `proximal_mu` > 0 the loss adds FedProx's proximal term towards the weights the round started from.
    """
    anchor = [p.detach().clone() for p in model.parameters()]
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    generator = torch.Generator().manual_seed(config.seed)
    xs, ys = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    losses: list[float] = []
    for _ in range(config.epochs):
        losses = []
        for batch in torch.randperm(len(xs), generator=generator).split(config.batch_size):
            loss = model.loss(xs[batch], ys[batch])
            if config.proximal_mu > 0:
                drift = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True))
                loss = loss + config.proximal_mu / 2 * drift
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
    return float(np.mean(losses)) if losses else float("nan")


def train_private(model: Heads, x: np.ndarray, y: np.ndarray, config: LocalConfig, plan: RecordPlan) -> float:
    """Train `model` in place with DP-SGD (Opacus): Poisson batches at `plan.sample_rate`, each row's gradient
    clipped to `plan.clipping_norm`, Gaussian noise at `plan.noise_multiplier`, `plan.steps_per_round` steps
    (`config.epochs` passes); the mean loss of the non-empty batches. FedProx's term is not used here."""
    from opacus import PrivacyEngine

    torch.manual_seed(config.seed)  # Opacus draws its batches and its noise from torch's generator
    rows = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long))
    loader = torch.utils.data.DataLoader(rows, batch_size=min(plan.batch_size, len(rows)))
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    with warnings.catch_warnings():  # Opacus warns about its secure RNG and an unstored module state
        warnings.simplefilter("ignore")
        private, optimiser, loader = PrivacyEngine(accountant="rdp").make_private(
            module=model, optimizer=optimiser, data_loader=loader, noise_multiplier=plan.noise_multiplier,
            max_grad_norm=plan.clipping_norm, poisson_sampling=True,
        )  # fmt: skip
        losses = [
            dp_step(private._module, optimiser, xb, yb) for _ in range(config.epochs) for xb, yb in loader
        ]
    return float(np.nanmean(losses)) if losses else float("nan")


def dp_step(model: Heads, optimiser: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """One DP-SGD step on a Poisson batch (an empty one still adds the step's noise); its mean loss."""
    optimiser.zero_grad()
    loss = model.loss(x, y) if len(x) else model.loss(x, y, reduction="none").sum()  # mean of none: NaN
    loss.backward()
    optimiser.step()
    return loss.item() if len(x) else float("nan")


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in `y_true` or `y_pred`."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)  # (true, predicted)
    np.add.at(counts, (y_true, y_pred), 1)
    tp = np.diag(counts).astype(float)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=present)
    return float(f1[present].mean())


def score(model: Heads, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Macro-F1 and accuracy of the routed prediction, and the mean loss, on (x, y)."""
    model.eval()
    with torch.no_grad():
        xs, ys = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
        predicted = torch.cat([model.predict(b) for b in xs.split(8192)]).numpy()
        loss = float(model.loss(xs, ys))
    model.train()
    n_classes = len(model.domain_of_class)
    return {
        "macro_f1": macro_f1(np.asarray(y), predicted, n_classes),
        "accuracy": float((predicted == np.asarray(y)).mean()),
        "loss": loss,
    }


def per_row_loss(model: Heads, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N,) loss of each row: what a membership-inference attack thresholds."""
    with torch.no_grad():
        xs, ys = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
        return model.loss(xs, ys, reduction="none").numpy()


def train_central(task: Task, epochs: int, config: LocalConfig) -> Heads:
    """The centralised reference: the same heads trained on every organisation's rows pooled, `epochs` passes."""
    model = new_heads(task, config.seed)
    for epoch in range(epochs):
        train_local(
            model, task.x["train"], task.y["train"], replace(config, epochs=1, seed=config.seed + epoch)
        )
    return model


def membership_auc(
    model: Heads, members: tuple[np.ndarray, np.ndarray], others: tuple[np.ndarray, np.ndarray]
) -> float:
    """AUC of a loss-threshold membership-inference attack: how well a row's loss tells training rows from others.

    0.5 is a coin toss; the attacker guesses "member" for low loss (Yeom et al., 2018).
    """
    member_loss, other_loss = per_row_loss(model, *members), per_row_loss(model, *others)
    scores = np.concatenate([-member_loss, -other_loss])
    ranks = scores.argsort().argsort() + 1.0  # ties are rare with float losses
    n_members, n_others = len(member_loss), len(other_loss)
    return float((ranks[:n_members].sum() - n_members * (n_members + 1) / 2) / (n_members * n_others))
