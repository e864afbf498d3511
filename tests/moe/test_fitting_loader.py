"""The training loader: the batches `DataLoader(shuffle=True)` would draw, gathered a batch at a time."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from aiprime.moe.lightning import loader


def rows_by_row(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> DataLoader:
    """The loader fitting used before: rows fetched one by one and stacked by the collate function."""
    data = TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=seed is not None, generator=generator)


def epochs_of(batches: DataLoader, n: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    return [list(batches) for _ in range(n)]


def test_shuffled_batches_and_their_order_match_a_row_by_row_loader_over_epochs():
    x = np.arange(103 * 3, dtype=np.float32).reshape(103, 3)
    y = np.arange(103) % 5
    ours, theirs = epochs_of(loader(x, y, 16, seed=7), 3), epochs_of(rows_by_row(x, y, 16, 7), 3)
    assert len(ours[0]) == 7  # the last batch keeps the 7 rows left over
    for epoch_ours, epoch_theirs in zip(ours, theirs, strict=True):
        for (xa, ya), (xb, yb) in zip(epoch_ours, epoch_theirs, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb) and ya.dtype == torch.long
    assert not torch.equal(ours[0][0][1], ours[1][0][1])  # each epoch draws a new order


def test_validation_batches_keep_the_rows_in_order():
    x, y = np.eye(5, dtype=np.float32), np.arange(5)
    batches = list(loader(x, y, 2, seed=None))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
