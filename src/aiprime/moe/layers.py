"""A Switch-style mixture-of-experts layer: top-1 or top-2 routing under a per-expert capacity.

A token is one row of a (T, d_model) batch. The router scores every expert, each token takes its top-k, and
every expert processes at most `capacity = ceil(capacity_factor * T * k / E)` assignments, claimed in
priority order: all first choices (in token order) before any second choice. An assignment past capacity is
either dropped (it contributes zero, so a residual around the layer carries the token through unchanged) or,
with `overflow="next"`, retried once at the token's next-ranked unused expert. `reference.py` spells out the
same rules as a per-token loop.

Switch Transformer (Fedus et al. 2021, https://arxiv.org/abs/2101.03961) for top-1, capacity and the
balance loss; Mixtral (Jiang et al. 2024, https://arxiv.org/abs/2401.04088) for renormalised top-2 weights;
ST-MoE (Zoph et al. 2022, https://arxiv.org/abs/2202.08906) for the router z-loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aiprime.errors import InvalidInput


@dataclass(frozen=True)
class MoEConfig:
    """Shape and routing rules of one `SwitchMoE` layer."""

    d_model: int = 64  # width of the tokens entering and leaving the layer
    d_hidden: int = 128  # hidden width of each expert's two-layer FFN (bias-free, GELU)
    n_experts: int = 4  # E: experts in the layer
    top_k: int = 1  # experts per token: 1 = Switch (weight p_e), 2 = Mixtral (p renormalised over the two)
    capacity_factor: float = 1.25  # slack over an even share: capacity = ceil(factor * tokens * top_k / E)
    overflow: Literal["drop", "next"] = "drop"  # past capacity: "drop" (zero output) or "next" (retry once)
    balance_alpha: float = 1e-2  # weight of the load-balancing loss alpha * E * sum_i f_i * P_i
    z_loss_coef: float = 1e-3  # weight of the router z-loss mean_t logsumexp(logits_t)^2
    dropout: float = 0.0  # dropout on the experts' hidden activations
    capacity_in_eval: bool = False  # enforce capacity in eval too; False: a row's output ignores its batch

    def __post_init__(self) -> None:
        checks = {
            f"top_k={self.top_k} (use 1 or 2)": self.top_k not in (1, 2),
            f"n_experts={self.n_experts} (needs >= top_k)": self.n_experts < self.top_k,
            f"overflow={self.overflow!r} (use 'drop' or 'next')": self.overflow not in ("drop", "next"),
            f"capacity_factor={self.capacity_factor} (needs > 0)": self.capacity_factor <= 0,
            f"d_model={self.d_model}, d_hidden={self.d_hidden} (need > 0)": min(self.d_model, self.d_hidden)
            < 1,
            f"dropout={self.dropout} (needs 0 <= dropout < 1)": not 0 <= self.dropout < 1,
            f"balance_alpha={self.balance_alpha}, z_loss_coef={self.z_loss_coef} (need >= 0)": min(
                self.balance_alpha, self.z_loss_coef
            )
            < 0,
        }
        failed = [message for message, bad in checks.items() if bad]
        if failed:
            raise InvalidInput("Invalid MoEConfig: " + "; ".join(failed))

    def capacity(self, n_tokens: int) -> int:
        """Assignments one expert may process in a batch of `n_tokens` tokens."""
        return math.ceil(self.capacity_factor * n_tokens * self.top_k / self.n_experts)


@dataclass(frozen=True)
class MoEAux:
    """What one `SwitchMoE` forward pass reports besides its output."""

    balance_loss: Tensor  # () alpha * E * sum_i f_i * P_i, differentiable through P
    z_loss: Tensor  # () z_loss_coef * mean_t logsumexp(logits_t)^2
    routed_counts: Tensor  # (E,) long: assignments choosing each expert, before capacity (f_i * T * k)
    expert_counts: Tensor  # (E,) long: assignments each expert processed
    n_dropped: Tensor  # () long: assignments no expert processed
    n_overflowed: Tensor  # () long: assignments processed by the token's next choice
    capacity: int  # slot limit per expert in this pass (T * k when capacity is not enforced)

    @property
    def loss(self) -> Tensor:
        """The auxiliary loss to add to the task loss."""
        return self.balance_loss + self.z_loss


@dataclass(frozen=True)
class Routing:
    """Which (token, expert) assignments are processed, in which buffer slot, with which weight."""

    token: Tensor  # (N,) long: token of each processed assignment
    expert: Tensor  # (N,) long: expert that processes it
    slot: Tensor  # (N,) long: its row in that expert's buffer, < capacity
    n_overflowed: Tensor  # () long: assignments among them that were retried at a next choice


def balance_loss(probs: Tensor, choices: Tensor, alpha: float) -> Tensor:
    """The Switch load-balancing loss `alpha * E * sum_i f_i * P_i`.

    f_i is the fraction of the T * k choices (before capacity) that pick expert i, P_i the mean router
    probability of expert i. It equals alpha when routing is uniform. For k = 2 this is Mixtral's
    (Hugging Face's) value divided by k, so one alpha means the same for both k.

    Args:
        probs: (T, E) router probabilities.
        choices: (T, k) long, the experts each token chose.
    """
    n_experts = probs.shape[1]
    f = torch.bincount(choices.reshape(-1), minlength=n_experts).to(probs.dtype) / choices.numel()  # (E,)
    p = probs.mean(dim=0)  # (E,)
    return alpha * n_experts * torch.sum(f * p)


def router_z_loss(logits: Tensor, coef: float) -> Tensor:
    """The ST-MoE router z-loss `coef * mean_t logsumexp(logits_t)^2`, which keeps logits small."""
    return coef * torch.logsumexp(logits, dim=-1).square().mean()


def claim_slots(experts: Tensor, load: Tensor, capacity: int) -> tuple[Tensor, Tensor]:
    """Buffer slots that assignments take, first come first served, after `load` rows already taken.

    Args:
        experts: (N,) long, the expert of each assignment, in priority order.
        load: (E,) long, rows each expert has already filled.
        capacity: rows per expert.

    Returns:
        slot: (N,) long, the row of each assignment; kept: (N,) bool, slot < capacity.
    """
    one_hot = F.one_hot(experts, load.numel())  # (N, E)
    slot = (one_hot.cumsum(dim=0) * one_hot).sum(dim=1) - 1 + load[experts]  # (N,)
    return slot, slot < capacity


def retry_next_choice(
    ranked: Tensor, over: Tensor, load: Tensor, capacity: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Retry overflowing assignments once, each at its token's next unused expert rank.

    A token's overflowing slots take ranks k, k+1, ... in slot order, so they never meet one of its
    experts again; retries claim slots in (slot, token) order after the first round's `load`.

    Args:
        ranked: (T, E) long, each token's experts best first.
        over: (k, T) bool, the first-round assignments that found their expert full.
        load: (E,) long, rows each expert filled in the first round.
        capacity: rows per expert.

    Returns:
        token, expert, slot: (R,) long each, the retries that fit.
    """
    k, n_experts = over.shape[0], ranked.shape[1]
    token = torch.arange(ranked.shape[0], device=ranked.device).expand(k, -1)  # (k, T)
    rank = k + over.long().cumsum(dim=0) - 1  # (k, T) next unused rank of each overflowing slot
    retry = over & (rank < n_experts)  # (k, T) overflowing slots whose token has a rank left
    expert = ranked.gather(1, rank.clamp(max=n_experts - 1).T).T[retry]  # (R0,) expert at that rank
    slot, kept = claim_slots(expert, load, capacity)  # (R0,), (R0,)
    return token[retry][kept], expert[kept], slot[kept]


class SwitchMoE(nn.Module):
    """A mixture of E two-layer FFN experts behind a softmax router with top-k routing and capacity."""

    def __init__(self, config: MoEConfig) -> None:
        super().__init__()
        self.config = config
        e, d, h = config.n_experts, config.d_model, config.d_hidden
        self.router = nn.Linear(d, e, bias=False)
        # Experts as stacked weights so that one bmm runs them all; init as nn.Linear does.
        self.w1 = nn.Parameter(torch.empty(e, d, h).uniform_(-(d**-0.5), d**-0.5))  # (E, d, h)
        self.w2 = nn.Parameter(torch.empty(e, h, d).uniform_(-(h**-0.5), h**-0.5))  # (E, h, d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, MoEAux]:
        """Route, run the experts and combine: (T, d_model) -> (T, d_model) plus the auxiliary report."""
        cfg = self.config
        assert x.dim() == 2 and x.shape[1] == cfg.d_model, (
            f"expected (T, {cfg.d_model}), got {tuple(x.shape)}"
        )
        n_tokens = x.shape[0]
        enforce = self.training or cfg.capacity_in_eval
        capacity = cfg.capacity(n_tokens) if enforce else n_tokens * cfg.top_k
        logits = self.router(x)  # (T, E) router logits
        probs = logits.float().softmax(dim=-1)  # (T, E)
        ranked = torch.sort(
            probs, dim=-1, descending=True, stable=True
        ).indices  # (T, E) experts by preference
        routing = self.route(ranked, capacity)
        weight = self.gates(probs, ranked)[routing.token, routing.expert]  # (N,) combine weights
        out = self.run_experts(x, routing, weight.to(x.dtype))  # (T, d)
        return out, self.report(logits, probs, ranked, routing, capacity)

    def forward_dense(self, x: Tensor) -> Tensor:
        """Every expert on every token, each weighted by its gate among the token's top-k (0 elsewhere).

        `forward`'s output whenever capacity is not enforced (eval without `capacity_in_eval`), in a few ops
        of static shape: the edge bundle exports this (`aiprime.edge.export`). (T, d_model) -> (T, d_model).
        """
        probs = self.router(x).float().softmax(dim=-1)  # (T, E)
        top = torch.topk(probs, self.config.top_k, dim=-1).indices  # (T, k)
        weight = self.gates(probs, top) * torch.zeros_like(probs).scatter(1, top, 1.0)  # (T, E) 0 off top-k
        h = F.gelu(torch.matmul(x.unsqueeze(0), self.w1))  # (E, T, h)
        y = torch.matmul(h, self.w2)  # (E, T, d)
        return (y * weight.to(x.dtype).T.unsqueeze(-1)).sum(dim=0)  # (T, d)

    def report(
        self, logits: Tensor, probs: Tensor, ranked: Tensor, routing: Routing, capacity: int
    ) -> MoEAux:
        """The auxiliary losses and counts of one pass."""
        cfg = self.config
        choices = ranked[:, : cfg.top_k]  # (T, k) experts chosen before capacity
        expert_counts = torch.bincount(routing.expert, minlength=cfg.n_experts)  # (E,)
        return MoEAux(
            balance_loss=balance_loss(probs, choices, cfg.balance_alpha),
            z_loss=router_z_loss(logits.float(), cfg.z_loss_coef),
            routed_counts=torch.bincount(choices.reshape(-1), minlength=cfg.n_experts),
            expert_counts=expert_counts,
            n_dropped=choices.numel() - expert_counts.sum(),
            n_overflowed=routing.n_overflowed,
            capacity=capacity,
        )

    def gates(self, probs: Tensor, ranked: Tensor) -> Tensor:
        """Combine weight of each (token, expert): p for top-1, p / (sum of the top-2 p) for top-2."""
        if self.config.top_k == 1:
            return probs  # (T, E)
        top_mass = probs.gather(1, ranked[:, : self.config.top_k]).sum(dim=1, keepdim=True)  # (T, 1)
        return probs / top_mass  # (T, E)

    def route(self, ranked: Tensor, capacity: int) -> Routing:
        """Assign each token's top-k choices to expert slots; retry overflow once if the policy says so."""
        k, e = self.config.top_k, self.config.n_experts
        choice = ranked[:, :k].T  # (k, T) slot j of token t; rank-major so first choices claim slots first
        token = torch.arange(ranked.shape[0], device=ranked.device).expand(k, -1)  # (k, T)
        slot, kept = claim_slots(choice.reshape(-1), ranked.new_zeros(e), capacity)  # (k*T,), (k*T,)
        kept = kept.view(k, -1)  # (k, T)
        first = (token[kept], choice[kept], slot.view(k, -1)[kept])  # 3 x (N1,)
        if self.config.overflow == "drop" or bool(kept.all()):
            return Routing(*first, n_overflowed=ranked.new_zeros(()))
        load = torch.bincount(choice[kept], minlength=e)  # (E,)
        second = retry_next_choice(ranked, ~kept, load, capacity)  # 3 x (N2,)
        tok, exp, slt = (torch.cat(pair) for pair in zip(first, second, strict=True))
        assert bool((slt < capacity).all()), f"slot {int(slt.max())} past capacity {capacity}"
        return Routing(tok, exp, slt, n_overflowed=ranked.new_tensor(len(second[0])))

    def run_experts(self, x: Tensor, routing: Routing, weight: Tensor) -> Tensor:
        """Gather tokens into per-expert buffers, apply every expert in one bmm, scatter back weighted."""
        e, d = self.config.n_experts, self.config.d_model
        n_slots = int(routing.slot.max()) + 1 if routing.slot.numel() else 0  # S: rows per expert buffer
        row = routing.expert * n_slots + routing.slot  # (N,) row in the flat buffer
        buf = x.new_zeros(e * n_slots, d).index_copy(0, row, x[routing.token])  # (E*S, d)
        h = self.dropout(F.gelu(torch.bmm(buf.view(e, n_slots, d), self.w1)))  # (E, S, h)
        y = torch.bmm(h, self.w2).view(e * n_slots, d)  # (E*S, d)
        return x.new_zeros(x.shape).index_add(0, routing.token, y[row] * weight[:, None])  # (T, d)

    def expert_parameters(self) -> int:
        """Parameters of all experts together (the router excluded)."""
        return self.w1.numel() + self.w2.numel()
