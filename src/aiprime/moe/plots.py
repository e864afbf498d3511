"""PNG plots of an evaluation, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from aiprime.moe.evaluation import Evaluation


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows of zeros stay zero)."""
    sums = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, sums, out=np.zeros(counts.shape, dtype=float), where=sums > 0)


def plot_confusion(counts: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """A row-normalised confusion matrix (true class down, predicted across)."""
    plt = pyplot()
    size = max(4.0, 0.22 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(row_normalised(counts), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=6)
    ax.set_yticks(range(len(classes)), classes, fontsize=6)
    ax.set_xlabel("predicted lexname (system, top-1)")
    ax.set_ylabel("true lexname")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"Confusion, row-normalised (accuracy {accuracy:.3f}, {int(counts.sum())} rows)")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_routing(evaluation: Evaluation, path: Path) -> Path:
    """Left: where the gate sends each true domain (row shares); right: each expert's share of all inputs."""
    plt = pyplot()
    routing = evaluation.routing
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    image = left.imshow(row_normalised(routing), cmap="Greens", vmin=0, vmax=1)
    left.set_xticks(range(len(evaluation.experts)), evaluation.experts, rotation=30, ha="right")
    left.set_yticks(range(len(evaluation.domains)), evaluation.domains)
    left.set_xlabel("expert chosen by the gate")
    left.set_ylabel("true domain")
    left.set_title("Routing (row shares)")
    fig.colorbar(image, ax=left, fraction=0.04)
    share = routing.sum(axis=0) / max(routing.sum(), 1)
    right.bar(range(len(share)), share, color="tab:green")
    if len(share):
        right.axhline(1 / len(share), color="grey", linestyle="--", label="uniform")
        right.legend()
    right.set_xticks(range(len(share)), evaluation.experts, rotation=30, ha="right")
    right.set_ylabel("share of inputs")
    cv = evaluation.metrics.get("routing.utilisation_cv", float("nan"))
    right.set_title(f"Expert utilisation (CV {cv:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
