"""Non-IID shares of a labelled table for simulated organisations: a seeded Dirichlet split per class.

Numpy only: it runs in the main venv (which writes the shares) and in the federated venv (which reads them).
"""

from __future__ import annotations

import numpy as np

from aiprime.errors import InvalidInput


def dirichlet_shares(labels: np.ndarray, n_clients: int, alpha: float, seed: int) -> list[np.ndarray]:
    """Row indices of each client: every class's rows split by proportions drawn from Dirichlet(alpha).

    Small `alpha` (0.3) gives each organisation a few dominant classes, as real organisations have; every
    row goes to exactly one client, and the same seed gives the same shares.

    Args:
        labels: (N,) class of each row.
        n_clients: organisations, at least 2.
        alpha: the Dirichlet concentration, > 0.
        seed: the seed of the draw.
    """
    if n_clients < 2:
        raise InvalidInput(f"n_clients is {n_clients}: federated training needs at least 2 clients.")
    if not alpha > 0:
        raise InvalidInput(f"alpha is {alpha}: the Dirichlet concentration must be > 0 (e.g. 0.3).")
    rng = np.random.default_rng(seed)
    shares: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        cuts = (np.cumsum(rng.dirichlet(np.full(n_clients, alpha)))[:-1] * len(rows)).astype(int)
        for client, part in enumerate(np.split(rows, cuts)):
            shares[client].append(part)
    return [np.sort(np.concatenate(parts)) for parts in shares]


def share_summary(labels: np.ndarray, shares: list[np.ndarray]) -> list[dict[str, int]]:
    """Rows and distinct classes of each share, for logs and the bench report."""
    return [{"rows": len(s), "classes": len(np.unique(labels[s]))} for s in shares]
