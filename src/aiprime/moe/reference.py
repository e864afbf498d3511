"""A slow, per-token reference of `SwitchMoE` and of an `ExpertNet`, written to be read, not run in production.

It follows the routing rules of `layers.py` one assignment at a time with Python lists, using the same
weights as the module it is given, so tests and the dispatch benchmark can compare the two; `reference_expert`
runs one expert's blocks on one input at a time, what `stacking.StackedExperts` must reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from aiprime.moe.layers import SwitchMoE
from aiprime.moe.networks import ExpertNet


@dataclass(frozen=True)
class ReferenceResult:
    """Output and bookkeeping of one reference pass."""

    out: Tensor  # (T, d_model) layer output
    served: list[list[int]]  # per token, the experts that processed it
    expert_counts: list[int]  # per expert, assignments processed
    n_dropped: int  # assignments no expert processed
    n_overflowed: int  # assignments processed by the token's next choice
    balance_loss: float  # alpha * E * sum_i f_i * P_i
    z_loss: float  # coef * mean_t logsumexp(logits_t)^2


def token_preferences(moe: SwitchMoE, x: Tensor) -> tuple[list[list[float]], list[list[int]]]:
    """Router probabilities of each token and its experts ranked best first (ties: lower index first)."""
    probs, ranked = [], []
    for row in x:
        p = torch.softmax(moe.router.weight @ row, dim=0).tolist()
        probs.append(p)
        ranked.append(sorted(range(len(p)), key=lambda e, p=p: -p[e]))
    return probs, ranked


def assign(ranked: list[list[int]], top_k: int, capacity: int, overflow: str) -> tuple[list[list[int]], int]:
    """Experts serving each token, by the rules of `SwitchMoE.route`, and how many were overflow retries."""
    n_experts = len(ranked[0]) if ranked else 0
    load = [0] * n_experts
    served: list[list[int]] = [[] for _ in ranked]
    overflowing = []
    for j in range(top_k):  # all first choices claim slots before any second choice
        for t, prefs in enumerate(ranked):
            e = prefs[j]
            if load[e] < capacity:
                load[e] += 1
                served[t].append(e)
            else:
                overflowing.append(t)
    n_overflowed = 0
    next_rank = [top_k] * len(ranked)
    for t in overflowing if overflow == "next" else []:
        rank = next_rank[t]
        next_rank[t] += 1
        if rank < n_experts and load[ranked[t][rank]] < capacity:
            load[ranked[t][rank]] += 1
            served[t].append(ranked[t][rank])
            n_overflowed += 1
    return served, n_overflowed


def expert_ffn(moe: SwitchMoE, e: int, row: Tensor) -> Tensor:
    """Expert `e` applied to one token: gelu(row @ W1[e]) @ W2[e]."""
    return F.gelu(row @ moe.w1[e]) @ moe.w2[e]


def reference_forward(moe: SwitchMoE, x: Tensor) -> ReferenceResult:
    """Run `moe` on `x` (T, d_model) one token at a time; dropout is not applied."""
    cfg = moe.config
    enforce = moe.training or cfg.capacity_in_eval
    capacity = cfg.capacity(len(x)) if enforce else len(x) * cfg.top_k
    probs, ranked = token_preferences(moe, x)
    served, n_overflowed = assign(ranked, cfg.top_k, capacity, cfg.overflow)
    rows = []
    for t, experts in enumerate(served):
        top_mass = sum(probs[t][e] for e in ranked[t][: cfg.top_k]) if cfg.top_k == 2 else 1.0
        row = torch.zeros(cfg.d_model, dtype=x.dtype)
        for e in experts:
            row = row + probs[t][e] / top_mass * expert_ffn(moe, e, x[t])
        rows.append(row)
    counts = [sum(e == i for experts in served for e in experts) for i in range(cfg.n_experts)]
    return ReferenceResult(
        out=torch.stack(rows) if rows else x.new_zeros(0, cfg.d_model),
        served=served,
        expert_counts=counts,
        n_dropped=len(x) * cfg.top_k - sum(counts),
        n_overflowed=n_overflowed,
        balance_loss=reference_balance_loss(probs, ranked, cfg.top_k, cfg.balance_alpha),
        z_loss=reference_z_loss(moe, x),
    )


def reference_balance_loss(
    probs: list[list[float]], ranked: list[list[int]], top_k: int, alpha: float
) -> float:
    """alpha * E * sum_i f_i * P_i with f_i the share of the T * top_k choices that pick i."""
    n_tokens, n_experts = len(probs), len(probs[0])
    f = [sum(prefs[:top_k].count(i) for prefs in ranked) / (n_tokens * top_k) for i in range(n_experts)]
    p = [sum(row[i] for row in probs) / n_tokens for i in range(n_experts)]
    return alpha * n_experts * sum(fi * pi for fi, pi in zip(f, p, strict=True))


def reference_z_loss(moe: SwitchMoE, x: Tensor) -> float:
    """coef * mean_t (log sum_e exp logit_te)^2, one token at a time."""
    total = 0.0
    for row in x:
        logits = (moe.router.weight @ row).tolist()
        total += math.log(sum(math.exp(v) for v in logits)) ** 2
    return moe.config.z_loss_coef * total / max(len(x), 1)


@torch.no_grad()
def reference_expert(expert: ExpertNet, x: Tensor) -> Tensor:
    """Logits (N, C) of `expert` in eval, one input at a time, each block's SwitchMoE by `reference_forward`."""
    assert not expert.training, "the reference follows eval mode: call expert.eval() first"
    rows = []
    for row in x:
        h = expert.proj(row[None])  # (1, d)
        for block in expert.blocks:
            h = h + reference_forward(block.moe, block.ln(h)).out  # (1, d)
        rows.append(expert.head(expert.ln_f(h))[0])  # (C,)
    return torch.stack(rows)
