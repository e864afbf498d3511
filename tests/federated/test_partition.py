"""Dirichlet shares of the organisations: seeded, complete, non-IID."""

from __future__ import annotations

import numpy as np
import pytest

from aiprime.errors import InvalidInput
from aiprime.federated.partition import dirichlet_shares


def labels() -> np.ndarray:
    return np.repeat(np.arange(45), 200)


def test_every_row_goes_to_exactly_one_client() -> None:
    shares = dirichlet_shares(labels(), 10, 0.3, seed=0)
    rows = np.concatenate(shares)
    assert len(shares) == 10
    assert sorted(rows.tolist()) == list(range(len(labels())))


def test_same_seed_same_shares_other_seed_other_shares() -> None:
    first, again = dirichlet_shares(labels(), 10, 0.3, 7), dirichlet_shares(labels(), 10, 0.3, 7)
    other = dirichlet_shares(labels(), 10, 0.3, 8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_small_alpha_skews_each_client_to_few_classes() -> None:
    y = labels()
    skewed = dirichlet_shares(y, 10, 0.3, 0)
    even = dirichlet_shares(y, 10, 1000.0, 0)

    def top_class_share(shares: list[np.ndarray]) -> float:
        return float(np.mean([np.bincount(y[s]).max() / len(s) for s in shares]))

    assert top_class_share(skewed) > 2 * top_class_share(even)


@pytest.mark.parametrize(("clients", "alpha", "field"), [(1, 0.3, "n_clients"), (10, 0.0, "alpha")])
def test_bad_settings_name_the_field(clients: int, alpha: float, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        dirichlet_shares(labels(), clients, alpha, 0)
