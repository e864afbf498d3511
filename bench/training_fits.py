"""Two expert fits side by side, as the pipeline's ParallelFor runs them: threads per fit and the batch loader.

Each setting starts two processes at once, each fitting the first registered expert on random
class-clustered 384-d rows (the largest domains' sizes by default: 25,000 and 17,000 rows) for a few epochs,
and prints the wall time of the pair and its ratio to the first setting. The settings: two threads per fit
with the row-by-row loader (what the pipeline did), one thread per fit with it, and one thread with the
batch-at-a-time loader of `aiprime.moe.lightning.loader` (what it does now).

Run: `python bench/training_fits.py [--rows 25000 17000] [--epochs 3]` (from the repository root).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = (("2 threads, row-by-row loader", 2, "rows"), ("1 thread, row-by-row loader", 1, "rows"),
            ("1 thread, batch loader", 1, "batches"))  # fmt: skip


def fit_once(rows: int, epochs: int, threads: int, loader: str) -> None:
    """One fit of the first expert on `rows` random rows (what each process of a pair runs)."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import aiprime.moe.lightning as lit
    from aiprime.moe.config import TrainConfig
    from aiprime.moe.experts import EXPERTS

    def rows_loader(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> DataLoader:
        data = TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return DataLoader(data, batch_size=batch_size, shuffle=seed is not None, generator=generator)

    if loader == "rows":
        lit.loader = rows_loader
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(7, 384)).astype(np.float32)
    y, y_val = rng.integers(0, 7, rows), rng.integers(0, 7, rows // 8)
    x = centers[y] + 3 * rng.normal(size=(rows, 384)).astype(np.float32)
    x_val = centers[y_val] + 3 * rng.normal(size=(len(y_val), 384)).astype(np.float32)
    train = TrainConfig(num_threads=threads, patience=epochs)
    with tempfile.TemporaryDirectory() as out:
        lit.fit(
            x,
            y,
            x_val,
            y_val,
            EXPERTS[0].config(7),
            seed=0,
            max_epochs=epochs,
            out_dir=Path(out),
            train=train,
        )


def pair_seconds(rows: list[int], epochs: int, threads: int, loader: str) -> float:
    """Wall seconds of two fits started at once, one per row count."""
    started = time.monotonic()
    command = [
        sys.executable,
        __file__,
        "--fit",
        "--epochs",
        str(epochs),
        "--threads",
        str(threads),
        "--loader",
    ]
    fits = [
        subprocess.Popen(
            [*command, loader, "--rows", str(n)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for n in rows
    ]
    if any(fit.wait() != 0 for fit in fits):
        raise SystemExit(f"a fit failed ({threads} threads, {loader}); run it alone with --fit to see why")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[25_000, 17_000])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fit", action="store_true", help="run one fit (what each process of a pair does)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loader", choices=("rows", "batches"), default="batches")
    args = parser.parse_args()
    if args.fit:
        fit_once(args.rows[0], args.epochs, args.threads, args.loader)
        return
    first = None
    for name, threads, loader in SETTINGS:
        seconds = pair_seconds(args.rows[:2], args.epochs, threads, loader)
        first = first or seconds
        print(f"{name:<32} {seconds:8.1f} s  {seconds / first:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
