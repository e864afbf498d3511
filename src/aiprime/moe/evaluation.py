"""Evaluation of the mixture: the gate, each expert, the end-to-end system and the dense baseline.

`evaluate` scores them on one split (top-1 accuracy and macro-F1), measures routing (the share of inputs each
expert receives and its coefficient of variation) and the share of token assignments that the experts'
SwitchMoE layers drop at training capacity. `score_member` is the single number the champion gate compares:
a model's accuracy on the validation rows it is responsible for.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aiprime.moe.dataset import TaskSplit
from aiprime.moe.fitting import DENSE_ROLE, GATE_ROLE
from aiprime.moe.layers import SwitchMoE
from aiprime.moe.system import Member, MoESystem

PROMOTION_METRIC = "accuracy"  # what `score_member` returns and the champion gate compares


@dataclass(frozen=True)
class Scores:
    """Top-1 accuracy and macro-F1 of predictions against labels."""

    accuracy: float
    macro_f1: float
    rows: int

    @classmethod
    def of(cls, truth: np.ndarray, predicted: np.ndarray) -> Scores:
        """Scores of `predicted` against `truth` (NaN for no rows); macro-F1 over the labels seen in either."""
        if len(truth) == 0:
            return cls(math.nan, math.nan, 0)
        truth, predicted = np.asarray(truth, dtype=str), np.asarray(predicted, dtype=str)
        return cls(float((truth == predicted).mean()), macro_f1(truth, predicted), len(truth))


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Unweighted mean over the labels seen in either array of each label's F1 (0 where undefined)."""
    from sklearn.metrics import f1_score  # scipy underneath: imported only by the steps that score

    labels = np.union1d(truth, predicted)
    if len(labels) == 0:
        return math.nan
    return float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))


def confusion(truth: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """(C, C) counts of (true label, predicted label) pairs over `labels`; pairs outside them are ignored."""
    from sklearn.metrics import confusion_matrix

    if not np.isin(truth, labels).any():  # scikit-learn refuses this case; no pair can be counted
        return np.zeros((len(labels), len(labels)), dtype=np.int64)
    return confusion_matrix(truth, predicted, labels=list(labels)).astype(np.int64)


@dataclass(frozen=True)
class Evaluation:
    """Everything `evaluate` measured on one split."""

    metrics: dict[str, float]  # flat names, e.g. "system.accuracy", "expert.living.macro_f1"
    classes: tuple[str, ...]  # lexnames, the axes of `confusion`
    confusion: np.ndarray  # (C, C) counts: true lexname (rows) x the system's top-1 prediction (cols)
    domains: tuple[str, ...]  # true domains, the rows of `routing`
    experts: tuple[str, ...]  # experts, the columns of `routing`
    routing: np.ndarray  # (D, E) counts: true domain x expert the gate chose


def predict_labels(member: Member, x: np.ndarray) -> np.ndarray:
    """The top-1 label of each row."""
    if len(x) == 0:
        return np.array([], dtype=str)
    return np.asarray(member.classes)[member.probabilities(x).argmax(axis=1)]


def score_member(member: Member, split: TaskSplit) -> Scores:
    """A model's scores on the rows it answers for: the gate on domains, an expert on its domain, dense on all."""
    role = member.metadata["role"]
    if role == GATE_ROLE:
        return Scores.of(split.domain, predict_labels(member, split.x))
    if role == DENSE_ROLE:
        return Scores.of(split.lexname, predict_labels(member, split.x))
    rows = split.of_domain(member.metadata["domain"])
    return Scores.of(rows.lexname, predict_labels(member, rows.x))


def capacity_report(member: Member, x: np.ndarray, batch_size: int) -> tuple[float, float]:
    """(dropped fraction, mean CV of per-layer expert load) of an expert's SwitchMoE layers on `x`.

    Runs a copy of the model with capacity enforced, in batches of `batch_size` (training's token count),
    so the drops are the ones training would see on this traffic.
    """
    model = copy.deepcopy(member.module)
    layers = [m for m in model.modules() if isinstance(m, SwitchMoE)]
    for layer in layers:
        layer.config = dataclasses.replace(layer.config, capacity_in_eval=True)
    if not layers or len(x) == 0:
        return 0.0, 0.0
    dropped = routed = 0
    load = np.zeros((len(layers), layers[0].config.n_experts))
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            reports = model(torch.as_tensor(x[start : start + batch_size], dtype=torch.float32)).moe
            dropped += sum(int(r.n_dropped) for r in reports)
            routed += sum(int(r.routed_counts.sum()) for r in reports)
            load += np.stack([r.expert_counts.numpy() for r in reports])
    return dropped / max(routed, 1), float(np.mean([variation(row) for row in load]))


def variation(counts: np.ndarray) -> float:
    """Coefficient of variation (population std / mean) of counts; 0 for uniform, NaN when all are zero."""
    counts = np.asarray(counts, dtype=float)
    return float(counts.std() / counts.mean()) if counts.sum() else math.nan


def add_scores(metrics: dict[str, float], prefix: str, scores: Scores) -> None:
    """Record accuracy, macro-F1 and row count under `prefix`."""
    metrics |= {
        f"{prefix}.accuracy": scores.accuracy,
        f"{prefix}.macro_f1": scores.macro_f1,
        f"{prefix}.rows": float(scores.rows),
    }


def evaluate(system: MoESystem, dense: Member, split: TaskSplit, batch_size: int = 256) -> Evaluation:
    """Score the gate, each expert (on its own domain), the system (top-1 and top-2) and the dense baseline."""
    metrics: dict[str, float] = {}
    add_scores(metrics, "gate", score_member(system.gate, split))
    first = system.predict(split.x, top_k=1)
    add_scores(metrics, "system", Scores.of(split.lexname, np.asarray(first.fine_class, dtype=str)))
    add_scores(
        metrics,
        "system_top2",
        Scores.of(split.lexname, np.asarray(system.predict(split.x, 2).fine_class, dtype=str)),
    )
    add_scores(metrics, "dense", score_member(dense, split))
    chosen = np.asarray(first.expert)
    experts = tuple(n for n in system.expert_names if n in system.experts)
    share = np.array([(chosen == name).mean() if len(chosen) else 0.0 for name in experts])
    total_dropped = total_rows = 0.0
    for name, share_of in zip(experts, share, strict=True):
        member = system.experts[name]
        add_scores(metrics, f"expert.{name}", score_member(member, split))
        dropped, layer_cv = capacity_report(member, split.x[chosen == name], batch_size)
        routed_rows = float((chosen == name).sum())
        metrics |= {
            f"routing.utilisation.{name}": float(share_of),
            f"expert.{name}.dropped_frac": dropped,
            f"expert.{name}.layer_utilisation_cv": layer_cv,
        }
        total_dropped, total_rows = total_dropped + dropped * routed_rows, total_rows + routed_rows
    metrics["routing.utilisation_cv"] = variation(share)
    metrics["dropped_frac"] = total_dropped / total_rows if total_rows else 0.0
    classes = tuple(sorted(set(split.lexname.tolist()) | set(map(str, first.fine_class))))
    domains = tuple(sorted(set(split.domain.tolist())))
    routing = np.array([[int(((split.domain == d) & (chosen == e)).sum()) for e in experts] for d in domains])
    return Evaluation(
        metrics=metrics,
        classes=classes,
        confusion=confusion(split.lexname, np.asarray(first.fine_class, dtype=str), classes),
        domains=domains,
        experts=experts,
        routing=routing.reshape(len(domains), len(experts)),
    )


def write_plots(evaluation: Evaluation, out_dir: Path) -> dict[str, Path]:
    """`confusion.png` (system, row-normalised) and `routing.png` (domain -> expert, utilisation) in `out_dir`."""
    from aiprime.moe.plots import plot_confusion, plot_routing

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "confusion": plot_confusion(evaluation.confusion, evaluation.classes, out_dir / "confusion.png"),
        "routing": plot_routing(evaluation, out_dir / "routing.png"),
    }
