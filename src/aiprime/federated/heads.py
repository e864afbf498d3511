"""The model that organisations train together: the gate and the expert heads on frozen sentence embeddings.

The gate maps an embedding to a domain; each domain's expert head maps it to that domain's lexnames. The
experts are stored as one (45, dim) layer whose rows are grouped by domain, so an expert's logits are its
rows: training scores an embedding only against its true domain's rows, and prediction takes the gate's
domain, then the best class among that domain's rows. Torch and numpy only: this runs inside the federated
venv (`aiprime.federated.simulate`) as well as in the main one.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiprime.federated.config import MODEL_FILE

FORMAT = "aiprime-federated-heads/1"  # bump when the weights' layout changes


@dataclass(frozen=True)
class Task:
    """The classification task as arrays: embeddings, fine labels and the class layout."""

    x: dict[str, np.ndarray]  # split -> (N, dim) float32 embeddings
    y: dict[str, np.ndarray]  # split -> (N,) int64 class index, classes grouped by domain
    classes: tuple[str, ...]  # lexnames in logit order
    domains: tuple[str, ...]  # domain names in gate order
    domain_of_class: np.ndarray  # (C,) int64 domain index of each class

    @property
    def dim(self) -> int:
        """The embedding width."""
        return int(next(iter(self.x.values())).shape[1])

    def domain(self, split: str) -> np.ndarray:
        """(N,) domain index of each row of `split`."""
        return self.domain_of_class[self.y[split]]

    def version(self) -> str:
        """The model version that this layout implies: clients with another one are refused."""
        text = json.dumps([FORMAT, self.dim, list(self.classes), list(self.domains)])
        return f"{FORMAT}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    def save(self, path: Path) -> Path:
        """Write the task as one `.npz` (no pickles)."""
        arrays = {f"x_{s}": v for s, v in self.x.items()} | {f"y_{s}": v for s, v in self.y.items()}
        np.savez(
            Path(path),
            classes=np.array(self.classes),
            domains=np.array(self.domains),
            domain_of_class=self.domain_of_class,
            **arrays,
        )
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> Task:
        """Read a task written by `save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            splits = [k[2:] for k in data.files if k.startswith("x_")]
            return cls(
                {s: data[f"x_{s}"] for s in splits},
                {s: data[f"y_{s}"] for s in splits},
                tuple(data["classes"].tolist()),
                tuple(data["domains"].tolist()),
                data["domain_of_class"],
            )


class Heads(nn.Module):
    """The gate (dim -> domains) and the experts (dim -> classes, rows grouped by domain)."""

    def __init__(self, dim: int, domain_of_class: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("domain_of_class", torch.as_tensor(domain_of_class, dtype=torch.long))
        self.scale = math.sqrt(dim)  # unit-norm embeddings have coordinates ~1/sqrt(dim): bring them to ~1
        self.gate = nn.Linear(dim, int(domain_of_class.max()) + 1)
        self.experts = nn.Linear(dim, len(domain_of_class))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gate logits (B, D) and expert logits (B, C)."""
        x = x * self.scale
        return self.gate(x), self.experts(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The gate's cross-entropy on the domain plus the true domain's expert's cross-entropy on the class.

        `reduction` "none" gives each row's loss (B,).
        """
        gate, experts = self(x)  # (B, D), (B, C)
        domain = self.domain_of_class[y]  # (B,)
        outside = self.domain_of_class[None, :] != domain[:, None]  # (B, C): other experts' rows
        expert_loss = nn.functional.cross_entropy(experts.masked_fill(outside, -1e9), y, reduction=reduction)
        return nn.functional.cross_entropy(gate, domain, reduction=reduction) + expert_loss

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) class index: the best class of the domain the gate routes to."""
        gate, experts = self(x)
        routed = gate.argmax(dim=1)  # (B,)
        outside = self.domain_of_class[None, :] != routed[:, None]  # (B, C)
        return experts.masked_fill(outside, -torch.inf).argmax(dim=1)


def new_heads(task: Task, seed: int) -> Heads:
    """Heads for `task`, initialised from `seed`."""
    torch.manual_seed(seed)
    return Heads(task.dim, task.domain_of_class)


def get_weights(model: nn.Module) -> list[np.ndarray]:
    """The trainable weights as float32 arrays, in a fixed order (what clients send)."""
    return [p.detach().cpu().numpy().astype(np.float32, copy=True) for p in model.parameters()]


def set_weights(model: nn.Module, weights: list[np.ndarray]) -> None:
    """Load weights in `get_weights`' order (shapes checked by torch)."""
    with torch.no_grad():
        for param, value in zip(model.parameters(), weights, strict=True):
            param.copy_(torch.as_tensor(value))


def weight_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """The shapes a client's weights must have."""
    return [tuple(p.shape) for p in model.parameters()]


def load_heads(folder: Path, task: Task) -> Heads:
    """The heads saved in a run's folder (`model.npz`, arrays in `get_weights`' order)."""
    model = new_heads(task, 0)
    with np.load(Path(folder) / MODEL_FILE) as data:
        set_weights(model, [data[f"arr_{i}"] for i in range(len(data.files))])
    return model
