"""Benchmark: the mixture of experts against the dense baseline it is upcycled from.

Run: .venv/bin/python bench/moe_vs_dense.py [--root .] [--cache DIR] [--limit 0] [--max-epochs 30]
     [--threads 1] [--init upcycle scratch] [--gate FOLDER] [--models DIR] [--json FILE]
Data: the DVC-versioned classification splits of the checkout `--root`, embedded with all-MiniLM-L6-v2 and
cached under `--cache` (default AIPRIME_HOME/embeddings). Trains the dense baseline, the gate (or loads
`--gate`) and the six experts for each `--init` (upcycled from the dense model, or from scratch), keeping the
model folders under `--models` so that a rerun trains only what is missing. Reports on the test split:
- system top-1 / top-2 accuracy and macro-F1 against dense, for each init;
- active parameters per input: an expert path, the gate, the system (gate + k expert paths), each / dense;
- every expert against dense on its own domain's rows;
- time per batch (this thread's CPU time, or `--clock wall`) of `--batch` test rows drawn at random (the split is sorted by domain) of
  `system.predict` (gate, routing, experts: stacked in one pass) and of the same system run expert by expert,
  against dense, medians of interleaved runs (one load for all three);
- each fit's wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import TaskSplit, build_splits
from aiprime.moe.evaluation import Scores, predict_labels
from aiprime.moe.experts import EXPERTS
from aiprime.moe.networks import active_parameters
from aiprime.moe.system import Member, MoESystem
from aiprime.settings import Settings
from aiprime.versioning import find_repo_root

CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}  # what the latency figures measure


def fitted(train, folder: Path, times: dict[str, float], key: str) -> Path:
    """`folder` once `train(folder)` has written it (skipped when it already holds a model); its fit time."""
    if not (folder / fitting.MODEL_FILE).is_file():
        start = time.perf_counter()
        train(folder)
        times[key] = time.perf_counter() - start
    return folder


def train_all(splits: dict, run: RunConfig, inits: list[str], gate: Path | None, out: Path) -> tuple:
    """The dense model, the gate and each init's experts; every fit's wall time."""
    train, val = splits["train"], splits["val"]
    times: dict[str, float] = {}
    dense = fitted(lambda f: fitting.train_dense(train, val, f, run), out / "dense", times, "dense")
    gate = gate or fitted(lambda f: fitting.train_gate(train, val, f, run), out / "gate", times, "gate")
    systems = {}
    for init in inits:
        folders = []
        for spec in (dataclasses.replace(s, init=init) for s in EXPERTS):
            folders.append(
                fitted(
                    lambda f, spec=spec: fitting.train_expert(spec, train, val, f, run, dense=dense),
                    out / init / spec.name,
                    times,
                    f"{init}.{spec.name}",
                )
            )
        systems[init] = MoESystem.from_folders(gate, folders)
    return Member.load(dense), systems, times


def interleaved_ms(fns: dict, rows: np.ndarray, repeats: int, clock=time.thread_time) -> dict[str, float]:
    """Median ms per call of each function on `rows`, the functions taking turns (one load for all).

    The default clock is this thread's CPU time: with one torch thread the work runs here, and on a shared
    machine wall time mostly measures the other processes (`--clock wall` for it).
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn(rows)  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn(rows)
            samples[name].append(clock() - start)
    return {name: float(np.median(s)) * 1e3 for name, s in samples.items()}


def domain_scores(system: MoESystem, dense: Member, test: TaskSplit) -> dict[str, dict[str, float]]:
    """Each expert's and dense's accuracy on the expert's own domain's test rows."""
    scores = {}
    for name, member in system.experts.items():
        rows = test.of_domain(member.metadata["domain"])
        scores[name] = {
            "expert": Scores.of(rows.lexname, predict_labels(member, rows.x)).accuracy,
            "dense": Scores.of(rows.lexname, predict_labels(dense, rows.x)).accuracy,
        }
    return scores


def system_figures(system: MoESystem, dense: Member, test: TaskSplit, args) -> dict:
    """Accuracy, per-domain scores, active parameters and latency of one system against dense."""
    top = {
        k: Scores.of(test.lexname, np.asarray(system.predict(test.x, k).fine_class, dtype=str))
        for k in (1, 2)
    }
    looped = MoESystem(system.gate, system.experts)
    looped.stack = None
    with torch.inference_mode():
        latency = interleaved_ms(
            {
                "dense": lambda rows: predict_labels(dense, rows),
                "moe": system.predict,
                "moe_expert_by_expert": looped.predict,
            },
            test.x[np.random.default_rng(0).choice(len(test), args.batch, replace=False)],  # mixed traffic
            args.repeats,
            CLOCKS[args.clock],
        )
    path = active_parameters(next(iter(system.experts.values())).module)
    gate, dense_params = active_parameters(system.gate.module), active_parameters(dense.module)
    return {
        "accuracy": {"top1": top[1].accuracy, "top2": top[2].accuracy},
        "macro_f1": {"top1": top[1].macro_f1, "top2": top[2].macro_f1},
        "domains": domain_scores(system, dense, test),
        "active_parameters": {
            "expert_path": path,
            "gate": gate,
            "expert_path_over_dense": path / dense_params,
            "system_top1_over_dense": (gate + path) / dense_params,
            "system_top2_over_dense": (gate + 2 * path) / dense_params,
        },
        "latency_ms": latency | {"moe_over_dense": latency["moe"] / latency["dense"]},
    }


def report(init: str, figures: dict, dense_accuracy: float, args) -> None:
    """Print one system's figures against dense."""
    acc, params, ms = figures["accuracy"], figures["active_parameters"], figures["latency_ms"]
    print(
        f"[{init}] test accuracy  top-1 {acc['top1']:.4f}  top-2 {acc['top2']:.4f}  dense {dense_accuracy:.4f}"
    )
    print(
        f"[{init}] active parameters / dense: expert path {params['expert_path_over_dense']:.3f}, "
        f"gate + path {params['system_top1_over_dense']:.3f}, gate + 2 paths {params['system_top2_over_dense']:.3f}"
    )
    for name, score in figures["domains"].items():
        print(f"[{init}] {name:<15} own domain: expert {score['expert']:.4f}  dense {score['dense']:.4f}")
    print(
        f"[{init}] ms per batch of {args.batch}: system {ms['moe']:.2f} (expert by expert "
        f"{ms['moe_expert_by_expert']:.2f})  dense {ms['dense']:.2f}  ratio {ms['moe_over_dense']:.2f}  "
        f"({args.clock} ms, {args.threads} threads, median of {args.repeats} interleaved)"
    )


def main() -> None:
    """Parse arguments, train what is missing, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=None, help="the checkout whose data to use (default: here)"
    )
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (AIPRIME_HOME/embeddings)")
    parser.add_argument("--limit", type=int, default=0, help="rows per (split, lexname); 0 = the full data")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training and inference")
    parser.add_argument("--init", nargs="+", default=["upcycle", "scratch"], choices=["upcycle", "scratch"])
    parser.add_argument("--gate", type=Path, help="a trained gate's folder, instead of training one")
    parser.add_argument("--models", type=Path, default=Path("/tmp/aiprime-bench-moe"), help="model folders")
    parser.add_argument("--batch", type=int, default=256, help="rows per inference batch")
    parser.add_argument("--repeats", type=int, default=50, help="timed inference batches")
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu", help="thread CPU time or wall time")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = args.root or find_repo_root(Path.cwd())
    splits, version = build_splits(root, args.cache or Settings().home / "embeddings", args.limit)
    print(f"data version {version}: " + ", ".join(f"{k} {len(v):,}" for k, v in splits.items()))
    run = RunConfig(max_epochs=args.max_epochs, train=TrainConfig(lr=args.lr, num_threads=args.threads))
    dense, systems, times = train_all(
        splits, run, args.init, args.gate, args.models / f"{version}-{args.limit}"
    )
    test = splits["test"]
    dense_accuracy = Scores.of(test.lexname, predict_labels(dense, test.x)).accuracy
    figures = {"data_version": version, "dense_accuracy": dense_accuracy, "fit_seconds": times}
    for init, system in systems.items():
        figures[init] = system_figures(system, dense, test, args)
        report(init, figures[init], dense_accuracy, args)
    print("fit seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
