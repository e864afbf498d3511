"""The gate's calibration: one temperature fitted on val, and the confidence below which the graph is unsure.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) divides the logits by
one scalar T > 0 fitted to minimise the negative log-likelihood on the validation split; it changes the
probabilities, never the ranking. Calibrated, a probability of 0.8 is right about 8 times in 10, so a
threshold on it means something: `choose_threshold` picks, on val, the lowest confidence above which the
gate's first choice is right at least `TARGET_PRECISION` of the time, on the rows of the form it serves (the
sense questions, when the gate trains on them: on glosses it is right more often at a given confidence).
Below it the serving graph does not trust the route (`aiprime.serving`: the gate's record says
`confident: false`).

Both are stored with the gate (`calibrate_folder` writes them into `model.pt`'s metadata: `temperature`,
`threshold`, `calibration`), registered with it in MLflow, and applied wherever the gate's probabilities
are computed (`aiprime.serving.text.TextClassifier`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aiprime.errors import InvalidInput
from aiprime.moe.networks import load_metadata, load_model, save_model

ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
TARGET_PRECISION = 0.9  # the route is trusted where the calibrated first choice is right this often on val
LOG_T_BOUNDS = (-4.0, 4.0)  # T between e^-4 and e^4: a fit outside means the logits carry no signal


@dataclass(frozen=True)
class Calibration:
    """What calibration found on the validation split; stored in the gate's metadata."""

    temperature: float  # logits are divided by this before the softmax
    threshold: float  # calibrated first-choice probability at or above which the route is trusted
    target_precision: float  # the accuracy above `threshold` that chose it
    val_rows: int  # rows it was fitted on
    ece_before: float  # expected calibration error on val at T = 1 (ECE_BINS bins)
    ece_after: float  # the same at `temperature`
    coverage: float  # share of val rows at or above `threshold`
    accuracy_above: float  # first-choice accuracy on those rows

    def to_metadata(self) -> dict[str, Any]:
        """`temperature`, `threshold` and the whole record under `calibration`, for `save_model`'s metadata."""
        return {"temperature": self.temperature, "threshold": self.threshold, "calibration": asdict(self)}


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of `logits / temperature` over the last axis: (N, C) -> (N, C)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the NLL of `labels` under `softmax(logits / T)` (LBFGS on log T).

    Raises:
        InvalidInput: no rows, or logits and labels of different lengths.
    """
    check_rows(logits, labels)
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)  # (N, C)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)  # (N,)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(nll)
    return float(np.exp(np.clip(log_t.item(), *LOG_T_BOUNDS)))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the first choice: the row-weighted mean |accuracy - confidence| over equal-width bins."""
    check_rows(probabilities, labels)
    confidence = probabilities.max(axis=1)  # (N,)
    right = probabilities.argmax(axis=1) == labels  # (N,)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # (N,) bin (lo, hi]
    gaps = [abs(right[which == b].mean() - confidence[which == b].mean()) * (which == b).sum() for b in range(bins)
            if (which == b).any()]  # fmt: skip
    return float(sum(gaps) / len(labels))


def choose_threshold(
    probabilities: np.ndarray, labels: np.ndarray, precision: float = TARGET_PRECISION
) -> float:
    """The lowest first-choice probability at or above which the first choice is right >= `precision`.

    Returns 1.0 (never trusted, short of certainty) when no confidence reaches that precision.
    """
    check_rows(probabilities, labels)
    confidence = probabilities.max(axis=1)
    order = np.argsort(-confidence, kind="stable")  # most confident first
    right = (probabilities.argmax(axis=1) == labels)[order]
    accuracy = np.cumsum(right) / np.arange(1, len(right) + 1)  # accuracy of the k most confident rows
    reached = np.flatnonzero(accuracy >= precision)
    return float(confidence[order][reached[-1]]) if len(reached) else 1.0


def calibrate(
    logits: np.ndarray,
    labels: np.ndarray,
    precision: float = TARGET_PRECISION,
    served: np.ndarray | None = None,
) -> Calibration:
    """Fit the temperature on one (validation) set of logits (N, C) and labels (N,), and choose the threshold
    on its rows of the form the gate serves (`served`, a boolean mask (N,); None: every row)."""
    temperature = fit_temperature(logits, labels)
    before, after = softmax(logits), softmax(logits, temperature)
    chosen_on = np.ones(len(labels), dtype=bool) if served is None else np.asarray(served, dtype=bool)
    threshold = choose_threshold(after[chosen_on], labels[chosen_on], precision)
    above = after.max(axis=1) >= threshold
    right = after.argmax(axis=1) == labels
    return Calibration(
        temperature=temperature,
        threshold=threshold,
        target_precision=precision,
        val_rows=len(labels),
        ece_before=expected_calibration_error(before, labels),
        ece_after=expected_calibration_error(after, labels),
        coverage=float(above.mean()),
        accuracy_above=float(right[above].mean()) if above.any() else float("nan"),
    )


@torch.no_grad()
def logits_of(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """A saved network's logits (N, C) for embeddings (N, d_in)."""
    return module.eval()(torch.as_tensor(x, dtype=torch.float32)).logits.numpy()


def calibrate_folder(
    folder: Path,
    x_val: np.ndarray,
    y_val: np.ndarray,
    model_file: str = "model.pt",
    served: np.ndarray | None = None,
) -> Calibration:
    """Calibrate the gate saved in `folder` on (x_val, y_val), its threshold on the `served` rows (see
    `calibrate`), and write the result into its metadata."""
    path = Path(folder) / model_file
    module, metadata = load_model(path), load_metadata(path)
    found = calibrate(logits_of(module, x_val), y_val, served=served)
    save_model(module, path, {**metadata, **found.to_metadata()})
    return found


def check_rows(scores: np.ndarray, labels: np.ndarray) -> None:
    """Raise InvalidInput unless `scores` (N, C) and `labels` (N,) hold the same, non-zero number of rows."""
    if len(labels) == 0 or len(scores) != len(labels):
        raise InvalidInput(
            f"Calibration needs scores and labels for the same rows; got {len(scores)} and {len(labels)}. "
            "Pass the validation split's logits and label indices."
        )
