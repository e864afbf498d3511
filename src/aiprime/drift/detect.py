"""Two-sample drift tests: maximum mean discrepancy on embeddings, chi-square on routing shares."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from aiprime.errors import InvalidInput

MIN_SAMPLES = 20  # fewer requests than this say nothing about a distribution


def mmd2_rbf(x: np.ndarray, y: np.ndarray, gamma: float) -> float:
    """Unbiased squared MMD between samples x (n, d) and y (m, d) with an RBF kernel exp(-gamma |a-b|^2)."""
    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T  # (n, m) squared distances
        return np.exp(-gamma * np.maximum(sq, 0.0))

    n, m = len(x), len(y)
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def median_gamma(z: np.ndarray) -> float:
    """The median heuristic: gamma = 1 / median squared pairwise distance of the pooled sample."""
    sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)  # (N, N)
    median = np.median(sq[np.triu_indices(len(z), k=1)])
    return 1.0 / max(float(median), 1e-12)


def mmd_test(x: np.ndarray, y: np.ndarray, n_permutations: int = 200, seed: int = 0) -> tuple[float, float]:
    """MMD^2 of x vs y and its permutation p-value (the share of label shuffles with an MMD as large)."""
    pooled = np.concatenate([x, y]).astype(np.float64)  # (n + m, d)
    gamma = median_gamma(pooled)
    observed = mmd2_rbf(x.astype(np.float64), y.astype(np.float64), gamma)
    rng = np.random.default_rng(seed)
    larger = 0
    for _ in range(n_permutations):
        order = rng.permutation(len(pooled))
        larger += mmd2_rbf(pooled[order[: len(x)]], pooled[order[len(x):]], gamma) >= observed
    return observed, (larger + 1) / (n_permutations + 1)


def routing_test(reference: list[str], current: list[str]) -> tuple[float, float]:
    """Chi-square of the current routing counts against the reference shares (add-one smoothed)."""
    labels = sorted(set(reference) | set(current))
    ref, cur = Counter(reference), Counter(current)
    expected_share = np.array([ref[k] + 1 for k in labels], dtype=float)
    expected = expected_share / expected_share.sum() * len(current)
    observed = np.array([cur[k] for k in labels], dtype=float)
    statistic, p_value = stats.chisquare(observed, expected)
    return float(statistic), float(p_value)


@dataclass(frozen=True)
class DriftResult:
    """The outcome of one drift check."""

    mmd2: float
    mmd_p_value: float
    chi2: float
    chi2_p_value: float
    alpha: float
    n_reference: int
    n_current: int

    @property
    def drifted(self) -> bool:
        """Either test rejects at alpha / 2 (Bonferroni over the two tests)."""
        return min(self.mmd_p_value, self.chi2_p_value) < self.alpha / 2

    def as_metadata(self) -> dict:
        """Plain values for Dagster metadata and MLflow."""
        return {**asdict(self), "drifted": self.drifted}


def detect_drift(reference: np.ndarray, current: np.ndarray, reference_routes: list[str],
                 current_routes: list[str], alpha: float = 0.01, seed: int = 0) -> DriftResult:
    """Compare a window of traffic (embeddings (m, d), gate choices) with the training reference."""
    if len(current) < MIN_SAMPLES or len(reference) < MIN_SAMPLES:
        raise InvalidInput(f"drift needs at least {MIN_SAMPLES} reference and current requests; got "
                           f"{len(reference)} and {len(current)}. Wait for more traffic.")
    mmd2, mmd_p = mmd_test(reference, current, seed=seed)
    chi2, chi2_p = routing_test(reference_routes, current_routes)
    return DriftResult(mmd2, mmd_p, chi2, chi2_p, alpha, len(reference), len(current))
