"""Experts of one shape run as one network: their weights stacked, each input through the expert it names.

`StackedExperts` holds G `ExpertNet`s of the same config as stacked tensors. Its forward takes the inputs
and, for each, the index of its expert, and runs every layer as one batched call: the input projection and
the head as one `bmm` over per-expert buffers (`grouped_linear`), and every block's SwitchMoE as one layer of
G*E experts whose router scores only the E experts of the input's own expert (`merged_switch`). Evaluation
and serving thus cost one pass, not one pass per expert. It reproduces each expert's eval forward (capacity
not enforced), which `tests/moe/test_stacking.py` checks against the experts and `aiprime.moe.reference`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aiprime.errors import InvalidInput
from aiprime.moe.layers import SwitchMoE, claim_slots
from aiprime.moe.networks import ExpertNet


def can_stack(experts: Sequence[nn.Module]) -> bool:
    """Whether `experts` are ExpertNets of one config whose eval output of a row ignores its batch."""
    if not experts or not all(isinstance(e, ExpertNet) for e in experts):
        return False
    config = experts[0].config
    return all(e.config == config for e in experts) and not config.moe.capacity_in_eval


def grouped_linear(x: Tensor, group: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Row i times weight[group[i]] plus bias[group[i]], as one bmm over per-group buffers.

    Args:
        x: (N, i) rows; group: (N,) long in [0, G).
        weight: (G, i, o); bias: (G, o).

    Returns:
        (N, o).
    """
    n_groups = weight.shape[0]
    slot, _ = claim_slots(group, group.new_zeros(n_groups), len(x))  # (N,) row within its group's buffer
    n_slots = int(slot.max()) + 1 if len(x) else 0  # S
    row = group * n_slots + slot  # (N,) row in the flat (G*S, i) buffer
    n_in, n_out = weight.shape[1:]
    buf = x.new_zeros(n_groups * n_slots, n_in).index_copy(0, row, x)  # (G*S, i)
    y = torch.baddbmm(bias[:, None, :], buf.view(n_groups, n_slots, n_in), weight)  # (G, S, o)
    return y.view(n_groups * n_slots, n_out)[row]  # (N, o)


def merged_switch(layers: Sequence[SwitchMoE]) -> SwitchMoE:
    """One SwitchMoE holding the E experts of each of the G `layers` (G*E experts) and all their routers."""
    config = layers[0].config
    merged = SwitchMoE(dataclasses.replace(config, n_experts=config.n_experts * len(layers)))
    with torch.no_grad():
        merged.router.weight.copy_(torch.cat([layer.router.weight for layer in layers]))  # (G*E, d)
        merged.w1.copy_(torch.cat([layer.w1 for layer in layers]))  # (G*E, d, h)
        merged.w2.copy_(torch.cat([layer.w2 for layer in layers]))  # (G*E, h, d)
    return merged.eval()


def stacked(tensors: Sequence[Tensor]) -> nn.Parameter:
    """The tensors stacked along a new first dimension, as a frozen parameter."""
    return nn.Parameter(torch.stack([t.detach() for t in tensors]), requires_grad=False)


class StackedExperts(nn.Module):
    """G ExpertNets of one config, run in one pass: input i through expert group[i] (eval mode only)."""

    def __init__(self, experts: Sequence[ExpertNet]) -> None:
        super().__init__()
        if not can_stack(experts):
            raise InvalidInput(
                "Only ExpertNets of one config (capacity not enforced in eval) can be stacked; "
                "run the others one by one."
            )
        self.config = experts[0].config
        self.n_groups = len(experts)
        self.proj_w = stacked([e.proj.weight.T for e in experts])  # (G, d_in, d)
        self.proj_b = stacked([e.proj.bias for e in experts])  # (G, d)
        self.head_w = stacked([e.head.weight.T for e in experts])  # (G, d, C)
        self.head_b = stacked([e.head.bias for e in experts])  # (G, C)
        self.ln_f = self.norms([e.ln_f for e in experts])
        layers = range(self.config.n_layers)
        self.ln = nn.ParameterList(p for i in layers for p in self.norms([e.blocks[i].ln for e in experts]))
        self.moe = nn.ModuleList(merged_switch([e.blocks[i].moe for e in experts]) for i in layers)
        self.eval()

    @staticmethod
    def norms(norms: Sequence[nn.LayerNorm]) -> nn.ParameterList:
        """The LayerNorms' weights and biases, stacked: [(G, d), (G, d)]."""
        return nn.ParameterList([stacked([n.weight for n in norms]), stacked([n.bias for n in norms])])

    @staticmethod
    def norm(h: Tensor, group: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """LayerNorm of each row with the affine of its group: (N, d) -> (N, d)."""
        return F.layer_norm(h, h.shape[1:]) * weight[group] + bias[group]

    def own_experts(self, group: Tensor) -> Tensor:
        """(N, G*E) additive mask: 0 on the E inner experts of each row's group, -inf elsewhere."""
        e = self.config.moe.n_experts
        owner = torch.arange(self.n_groups * e, device=group.device) // e  # (G*E,)
        return torch.where(owner[None, :] == group[:, None], 0.0, float("-inf"))  # (N, G*E)

    def switch(self, moe: SwitchMoE, z: Tensor, mask: Tensor) -> Tensor:
        """The merged SwitchMoE on rows z (N, d), each routed among its own group's experts only."""
        n, k = len(z), self.config.moe.top_k
        probs = (moe.router(z).float() + mask).softmax(dim=-1)  # (N, G*E), zero outside the row's group
        ranked = torch.sort(probs, dim=-1, descending=True, stable=True).indices  # (N, G*E)
        routing = moe.route(ranked, capacity=n * k)
        weight = moe.gates(probs, ranked)[routing.token, routing.expert]  # (A,)
        return moe.run_experts(z, routing, weight.to(z.dtype))  # (N, d)

    @torch.no_grad()
    def forward(self, x: Tensor, group: Tensor) -> Tensor:
        """Logits (N, C) of expert group[i] for each row x[i] of (N, d_in)."""
        assert x.dim() == 2 and len(x) == len(group), f"x {tuple(x.shape)} vs group {tuple(group.shape)}"
        h = grouped_linear(x, group, self.proj_w, self.proj_b)  # (N, d)
        mask = self.own_experts(group)  # (N, G*E)
        for i, moe in enumerate(self.moe):
            h = h + self.switch(moe, self.norm(h, group, self.ln[2 * i], self.ln[2 * i + 1]), mask)
        return grouped_linear(self.norm(h, group, *self.ln_f), group, self.head_w, self.head_b)  # (N, C)
