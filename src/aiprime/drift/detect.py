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
    return float(
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def median_gamma(z: np.ndarray) -> float:
    """The median heuristic: gamma = 1 / median squared pairwise distance of the pooled sample."""
    return _gamma(_squared_distances(z))


def _gamma(sq: np.ndarray) -> float:
    median = np.median(sq[np.triu_indices(len(sq), k=1)])  # over distinct pairs
    return 1.0 / max(float(median), 1e-12)


def _squared_distances(z: np.ndarray) -> np.ndarray:
    norms = (z * z).sum(1)  # (N,); the Gram form needs O(N^2) memory, not the O(N^2 d) of z_i - z_j
    return np.maximum(norms[:, None] + norms[None, :] - 2 * z @ z.T, 0.0)  # (N, N)


def mmd_test(x: np.ndarray, y: np.ndarray, n_permutations: int = 200, seed: int = 0) -> tuple[float, float]:
    """MMD^2 of x vs y and its permutation p-value (the share of label shuffles with an MMD as large).

    The pooled kernel matrix is computed once; every shuffle's MMD^2 is read off it through its membership
    vector, so a test of a 2,000-row reference against a 500-request window takes about a second.
    """
    pooled = np.concatenate([x, y]).astype(np.float64)  # (N, d), N = n + m
    sq = _squared_distances(pooled)
    kernel = np.exp(-_gamma(sq) * sq)  # (N, N)
    rng = np.random.default_rng(seed)
    orders = [np.arange(len(pooled))] + [rng.permutation(len(pooled)) for _ in range(n_permutations)]
    members = np.zeros((len(orders), len(pooled)))  # (P + 1, N): 1 where a row is drawn into the x side
    for row, order in zip(members, orders, strict=True):
        row[order[: len(x)]] = 1.0
    mmds = _mmd2_of_splits(kernel, members, len(x))  # (P + 1,): the observed split first
    return float(mmds[0]), float((np.sum(mmds[1:] >= mmds[0]) + 1) / (n_permutations + 1))


def _mmd2_of_splits(kernel: np.ndarray, members: np.ndarray, n: int) -> np.ndarray:
    """Unbiased MMD^2 of each split of the pooled sample, given as membership rows a (P, N) of the x side."""
    m = kernel.shape[0] - n
    row_sums, diagonal = kernel.sum(1), np.diag(kernel)  # (N,), (N,)
    xx = np.einsum("pn,np->p", members, kernel @ members.T)  # a^T K a
    x_all = members @ row_sums  # a^T K 1
    yy = row_sums.sum() - 2 * x_all + xx  # (1-a)^T K (1-a)
    xy = x_all - xx  # a^T K (1-a)
    trace_x = members @ diagonal
    trace_y = diagonal.sum() - trace_x
    return (xx - trace_x) / (n * (n - 1)) + (yy - trace_y) / (m * (m - 1)) - 2 * xy / (n * m)


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


def detect_drift(
    reference: np.ndarray,
    current: np.ndarray,
    reference_routes: list[str],
    current_routes: list[str],
    alpha: float = 0.01,
    seed: int = 0,
) -> DriftResult:
    """Compare a window of traffic (embeddings (m, d), gate choices) with the training reference."""
    if len(current) < MIN_SAMPLES or len(reference) < MIN_SAMPLES:
        raise InvalidInput(
            f"drift needs at least {MIN_SAMPLES} reference and current requests; got "
            f"{len(reference)} and {len(current)}. Wait for more traffic."
        )
    mmd2, mmd_p = mmd_test(reference, current, seed=seed)
    chi2, chi2_p = routing_test(reference_routes, current_routes)
    return DriftResult(mmd2, mmd_p, chi2, chi2_p, alpha, len(reference), len(current))
