"""Benchmark: the mixture of experts against the dense baseline at equal active parameters per input.

Run: .venv/bin/python bench/moe_vs_dense.py [--limit 0] [--max-epochs 30] [--lr 0.001] [--threads 2]
Data: the DVC-versioned classification splits of this checkout (`aiprime data ingest` first), embedded with
all-MiniLM-L6-v2 and cached under AIPRIME_HOME/embeddings (the first full embedding takes a while on 2 cores).
Trains the gate and the six experts, and the dense baseline, with the same settings, then reports on the
test split: top-1 accuracy and macro-F1, training time, and inference latency per batch of embeddings
(median of repeated runs, same thread count), each as a MoE / dense ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import build_splits
from aiprime.moe.evaluation import Scores, predict_labels
from aiprime.moe.experts import EXPERTS
from aiprime.moe.networks import active_parameters
from aiprime.moe.system import Member, MoESystem
from aiprime.settings import Settings
from aiprime.versioning import find_repo_root


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    """fn's result and its wall time in seconds."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def train_both(splits: dict, run: RunConfig, out: Path) -> tuple[MoESystem, Member, dict[str, float]]:
    """Train the gate and every expert, then the dense baseline; their wall times."""
    train, val = splits["train"], splits["val"]
    times: dict[str, float] = {}
    gate, times["gate"] = timed(fitting.train_gate, train, val, out / "gate", run)
    experts = []
    for spec in EXPERTS:
        folder, times[f"expert.{spec.name}"] = timed(
            fitting.train_expert, spec, train, val, out / spec.name, run
        )
        experts.append(folder)
    dense, times["dense"] = timed(fitting.train_dense, train, val, out / "dense", run)
    return MoESystem.from_folders(gate, experts), Member.load(dense), times


def latency(fn, x: np.ndarray, batch: int, repeats: int) -> float:
    """Median seconds of `fn` on one batch of `batch` rows, over `repeats` runs after one warm-up."""
    rows = x[:batch]
    fn(rows)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(rows)
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def main() -> None:
    """Parse arguments, train both, print the figures and their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="rows per (split, lexname); 0 = the full data")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training and inference")
    parser.add_argument("--batch", type=int, default=256, help="rows per inference batch")
    parser.add_argument("--repeats", type=int, default=50, help="timed inference batches")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings()
    splits, version = build_splits(find_repo_root(Path.cwd()), settings.home / "embeddings", args.limit)
    print(f"data version {version}: " + ", ".join(f"{k} {len(v):,}" for k, v in splits.items()))
    run = RunConfig(max_epochs=args.max_epochs, train=TrainConfig(lr=args.lr, num_threads=args.threads))
    with tempfile.TemporaryDirectory(prefix="aiprime-bench-") as tmp:
        system, dense, times = train_both(splits, run, Path(tmp))
    test = splits["test"]
    moe_scores = Scores.of(test.lexname, np.asarray(system.predict(test.x).fine_class, dtype=str))
    top2_scores = Scores.of(test.lexname, np.asarray(system.predict(test.x, top_k=2).fine_class, dtype=str))
    dense_scores = Scores.of(test.lexname, predict_labels(dense, test.x))
    moe_time = sum(v for k, v in times.items() if k != "dense")
    with torch.inference_mode():
        moe_latency = latency(system.predict, test.x, args.batch, args.repeats)
        dense_latency = latency(lambda rows: predict_labels(dense, rows), test.x, args.batch, args.repeats)
    expert_active = active_parameters(next(iter(system.experts.values())).module)
    gate_params = active_parameters(system.gate.module)
    figures = {
        "data_version": version,
        "rows": {k: len(v) for k, v in splits.items()},
        "threads": args.threads,
        "max_epochs": args.max_epochs,
        "lr": args.lr,
        "active_parameters": {
            "expert_path": expert_active,
            "gate": gate_params,
            "dense": active_parameters(dense.module),
        },
        "accuracy": {
            "moe": moe_scores.accuracy,
            "moe_top2": top2_scores.accuracy,
            "dense": dense_scores.accuracy,
        },
        "macro_f1": {
            "moe": moe_scores.macro_f1,
            "moe_top2": top2_scores.macro_f1,
            "dense": dense_scores.macro_f1,
        },
        "train_seconds": {
            "moe": moe_time,
            "dense": times["dense"],
            **{f"moe.{k}": v for k, v in times.items() if k != "dense"},
        },
        "latency_ms_per_batch": {"moe": moe_latency * 1e3, "dense": dense_latency * 1e3, "batch": args.batch},
    }
    print(
        f"active parameters per input: expert path {expert_active:,} (+ gate {gate_params:,}), "
        f"dense {figures['active_parameters']['dense']:,}"
    )
    print(
        f"test accuracy  MoE top-1 {moe_scores.accuracy:.4f}  top-2 {top2_scores.accuracy:.4f}  "
        f"dense {dense_scores.accuracy:.4f}  ratio MoE/dense {moe_scores.accuracy / dense_scores.accuracy:.3f}"
    )
    print(
        f"test macro-F1  MoE top-1 {moe_scores.macro_f1:.4f}  dense {dense_scores.macro_f1:.4f}  "
        f"ratio {moe_scores.macro_f1 / dense_scores.macro_f1:.3f}"
    )
    print(
        f"training time  MoE {moe_time:.1f} s (gate {times['gate']:.1f} s + experts)  dense {times['dense']:.1f} s"
        f"  ratio {moe_time / times['dense']:.2f}"
    )
    print(
        f"latency/batch  MoE {moe_latency * 1e3:.2f} ms  dense {dense_latency * 1e3:.2f} ms  "
        f"ratio {moe_latency / dense_latency:.2f}  ({args.batch} rows, {args.threads} threads, median of "
        f"{args.repeats})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
