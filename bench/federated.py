"""Federated training of the gate and expert heads against centralised training, with SecAgg+ and DP.

10 simulated organisations hold Dirichlet(0.3) shares of the classification task's train split (full data,
embeddings read from the cache), and train the heads for 20 rounds of one local epoch each, in the federated
venv (`make federated`) on Flower's Ray simulation engine. Measured, all on the test split (macro-F1 of the
routed prediction: the gate's domain, then that domain's expert):
- centralised: the same heads on the pooled rows, one epoch per round (the same passes over the data);
- FedAvg and FedProx; SecAgg+ (5 shares, threshold 4, one organisation dropping out in round 1);
- per-record DP (`dp_eps1`, `dp_eps3`, `dp_eps8`): each organisation trains with DP-SGD (Opacus; Poisson
  batches, each row's gradient clipped to `--dp-clip`, noise chosen so that the 20 rounds spend the budget at
  delta 1/N, N the training rows), against FedAvg (epsilon inf); a row is the unit of privacy;
- central DP with fixed clipping at the same budgets (`dp_central_eps1`, ...: an organisation is the unit);
- a loss-threshold membership-inference attack's AUC (5,000 training rows against 5,000 test rows).

Run: `python bench/federated.py [--root /tmp/fr] [--cache /tmp/fr/.aiprime/embeddings] [--runs fedavg,...]
[--limit N] [--dp-lr 0.05] [--dp-clip 1.0] [--dp-batch 256]`
(from the repository root; a checkout whose data is prepared, an embedding cache that holds it). Writes
`bench/results/federated.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from aiprime.federated.config import FederatedConfig
from aiprime.federated.fitting import LocalConfig, membership_auc, score, train_central
from aiprime.federated.heads import Task
from aiprime.federated.runner import load_task, run_federated

EPSILONS = (1.0, 3.0, 8.0)
ATTACK_ROWS = 5000


def attack(model: torch.nn.Module, task: Task) -> float:
    """Membership-inference AUC on ATTACK_ROWS training rows against as many test rows."""
    rng = np.random.default_rng(0)
    members = rng.choice(len(task.y["train"]), ATTACK_ROWS, replace=False)
    others = rng.choice(len(task.y["test"]), min(ATTACK_ROWS, len(task.y["test"])), replace=False)
    return membership_auc(
        model,
        (task.x["train"][members], task.y["train"][members]),
        (task.x["test"][others], task.y["test"][others]),
    )


def central(task: Task, base: FederatedConfig) -> dict:
    """Centralised training's scores and the attack's AUC against it."""
    torch.set_num_threads(1)
    started = time.monotonic()
    local = LocalConfig(lr=base.lr, batch_size=base.batch_size, seed=base.seed)
    model = train_central(task, base.rounds * base.local_epochs, local)
    return {"test": score(model, task.x["test"], task.y["test"]), "mia_auc": attack(model, task),
            "seconds": time.monotonic() - started}  # fmt: skip


def configs(base: FederatedConfig, delta: float, record: FederatedConfig) -> dict[str, FederatedConfig]:
    """Every federated run of the bench, by name; `record` holds per-record DP-SGD's learning rate, clipping
    and batch."""
    runs = {
        "fedavg": base,
        "fedprox": replace(base, strategy="fedprox"),
        "secagg": replace(base, secagg=True, faults={"3": "dropout"}),
    }
    for epsilon in EPSILONS:
        runs[f"dp_eps{epsilon:g}"] = replace(record, dp_unit="record", dp_epsilon=epsilon, dp_delta=delta)
        runs[f"dp_central_eps{epsilon:g}"] = replace(base, dp_epsilon=epsilon, dp_delta=delta)
    return runs


def federated(task: Task, name: str, config: FederatedConfig, work: Path) -> dict:
    """One federated run's scores, privacy spent, time and the attack's AUC."""
    run = run_federated(task, config, work / name)
    result = run.result
    return {"test": result["test"], "val": result["val"], "privacy": result["privacy"],
            "stop_reason": result["stop_reason"], "seconds": result["seconds"],
            "rounds": len(result["rounds"]), "refused": [r["refused"] for r in result["rounds"] if r.get("refused")],
            "failures": [r.get("failures", 0) for r in result["rounds"]], "mia_auc": attack(run.model(task), task)}  # fmt: skip


def report(results: dict) -> None:
    """Print the table and the targets."""
    print(f"{'run':<14}{'test macro-F1':>14}{'accuracy':>10}{'epsilon':>10}{'MIA AUC':>9}{'seconds':>9}")
    for name, r in results.items():
        eps = r.get("privacy", {}).get("epsilon", math.inf) if r.get("privacy") else math.inf
        print(f"{name:<14}{r['test']['macro_f1']:>14.4f}{r['test']['accuracy']:>10.4f}{eps:>10.3f}"
              f"{r['mia_auc']:>9.3f}{r['seconds']:>9.1f}")  # fmt: skip
    f1 = {name: r["test"]["macro_f1"] * 100 for name, r in results.items()}
    if "central" in f1 and "fedavg" in f1:
        print(f"FedAvg - centralised: {f1['fedavg'] - f1['central']:+.2f} macro-F1 points (target >= -3)")
    if "secagg" in f1 and "fedavg" in f1:
        print(f"SecAgg+ - FedAvg: {f1['secagg'] - f1['fedavg']:+.2f} points (target within 0.5)")


def main() -> None:
    """Run the bench and write bench/results/federated.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--cache", type=Path, default=Path(".aiprime/embeddings"))
    parser.add_argument("--limit", type=int, default=0, help="rows per (split, lexname); 0: full data")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runs", default="central,fedavg,fedprox,secagg,dp_eps1,dp_eps3,dp_eps8")
    parser.add_argument("--dp-lr", type=float, default=0.05, help="per-record DP-SGD's learning rate")
    parser.add_argument(
        "--dp-clip", type=float, default=1.0, help="per-record DP-SGD: each row's gradient bound"
    )
    parser.add_argument("--dp-batch", type=int, default=256, help="per-record DP-SGD: expected Poisson batch")
    args = parser.parse_args()
    task, _ = load_task(args.root, args.cache, args.limit)
    base = FederatedConfig(rounds=args.rounds)
    delta = 1.0 / len(task.y["train"])
    record = replace(base, lr=args.dp_lr, dp_clip=args.dp_clip, batch_size=args.dp_batch)
    plans = configs(base, delta, record)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="aiprime-bench-federated-") as work:
        for name in args.runs.split(","):
            results[name] = (
                central(task, base) if name == "central" else federated(task, name, plans[name], Path(work))
            )
            print(name, json.dumps(results[name]["test"]), flush=True)
    report(results)
    out = Path(f"bench/results/federated{'-limit' + str(args.limit) if args.limit else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"delta": delta, "train_rows": len(task.y["train"]), "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
