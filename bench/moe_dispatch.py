"""Benchmark: vectorised SwitchMoE dispatch against the per-token reference, over the same tokens.

Run: .venv/bin/python bench/moe_dispatch.py [--tokens 1024] [--experts 8] [--threads 1]
Prints, for each routing mode, both forward times, their ratio and the largest output difference.
"""

from __future__ import annotations

import argparse
import time

import torch

from aiprime.moe.layers import MoEConfig, SwitchMoE
from aiprime.moe.reference import reference_forward

MODES = [(1, "drop"), (1, "next"), (2, "drop"), (2, "next")]


def best_time(fn, repeats: int) -> float:
    """Fastest of `repeats` wall-clock runs of `fn`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def compare(top_k: int, overflow: str, tokens: int, experts: int) -> dict[str, float]:
    """Time one forward pass of both implementations on the same layer and tokens."""
    torch.manual_seed(0)
    cfg = MoEConfig(
        d_model=128, d_hidden=256, n_experts=experts, top_k=top_k, capacity_factor=1.0, overflow=overflow
    )
    moe = SwitchMoE(cfg)  # train mode: capacity is enforced, so drop/next paths run
    x = torch.randn(tokens, cfg.d_model)
    with torch.no_grad():
        moe(x)  # warm-up
        fast = best_time(lambda: moe(x), repeats=10)
        slow = best_time(lambda: reference_forward(moe, x), repeats=3)
        diff = (moe(x)[0] - reference_forward(moe, x).out).abs().max().item()
    return {
        "vectorised_ms": fast * 1e3,
        "reference_ms": slow * 1e3,
        "ratio": slow / fast,
        "max_abs_diff": diff,
    }


def main() -> None:
    """Parse arguments, run every routing mode, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is steadiest on a busy 2-core box)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"tokens={args.tokens} experts={args.experts} d_model=128 d_hidden=256 capacity_factor=1.0 "
        f"threads={torch.get_num_threads()}"
    )
    print(
        f"{'top_k':>5} {'overflow':>8} {'vectorised ms':>14} {'reference ms':>13} {'ratio':>8} {'max |diff|':>11}"
    )
    for top_k, overflow in MODES:
        r = compare(top_k, overflow, args.tokens, args.experts)
        print(
            f"{top_k:>5} {overflow:>8} {r['vectorised_ms']:>14.2f} {r['reference_ms']:>13.1f} "
            f"{r['ratio']:>7.0f}x {r['max_abs_diff']:>11.1e}"
        )


if __name__ == "__main__":
    main()
