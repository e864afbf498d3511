"""Experts of one shape run as one network: their weights stacked, each input through the expert it names.

`StackedExperts` holds G `ExpertNet`s of the same config as stacked tensors. Its forward takes the inputs
and, for each, the index of its expert, sorts the rows once by expert, and runs every layer over contiguous
slices: the input projection and the head as one grouped matmul over the G experts (`grouped_matmul`,
`torch.nn.functional.grouped_mm` with the slices' offsets), and every block's SwitchMoE as one grouped
matmul over the G*E inner experts, its rows sorted again by (expert, inner expert) (`StackedSwitch`).
No buffer is padded to the busiest expert and no Python runs per row, so a batch costs what its active
parameters cost plus one sort per layer. It reproduces each expert's eval forward (capacity not enforced),
which `tests/moe/test_stacking.py` checks against the experts and `aiprime.moe.reference`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aiprime.errors import InvalidInput
from aiprime.moe.layers import SwitchMoE
from aiprime.moe.networks import ExpertNet

ALIGN = 4  # float32 elements in 16 bytes: grouped_mm's stride unit on CPU


def can_stack(experts: Sequence[nn.Module]) -> bool:
    """Whether `experts` are ExpertNets of one config whose eval output of a row ignores its batch."""
    if not experts or not all(isinstance(e, ExpertNet) for e in experts):
        return False
    config = experts[0].config
    return all(e.config == config for e in experts) and not config.moe.capacity_in_eval


def offsets(group: Tensor, n_groups: int) -> Tensor:
    """int32 end offset of each group's slice in rows sorted by `group` (N,): what grouped_mm takes."""
    return torch.bincount(group, minlength=n_groups).cumsum(0).to(torch.int32)  # (G,)


def grouped_matmul(x: Tensor, offs: Tensor, weight: Tensor, width: int | None = None) -> Tensor:
    """Rows of `x` (N, i), sorted by group and sliced by `offs` (G,), each times its group's weight (G, i', o).

    `weight` may be `aligned` (zero rows and columns added): `x` is padded to its i' columns, and the output
    keeps its first `width` columns (default: all o).
    """
    width = weight.shape[2] if width is None else width
    if len(x) == 0:
        return x.new_zeros(0, width)
    if x.shape[1] != weight.shape[1]:
        x = F.pad(x, (0, weight.shape[1] - x.shape[1]))  # (N, i')
    return F.grouped_mm(x, weight, offs=offs)[:, :width]  # (N, width)


def aligned(weight: Tensor) -> Tensor:
    """(G, i, o) padded with zeros to multiples of ALIGN in i and o: grouped_mm needs 16-byte row strides."""
    pad_in, pad_out = (-weight.shape[1]) % ALIGN, (-weight.shape[2]) % ALIGN
    return F.pad(weight, (0, pad_out, 0, pad_in)).contiguous()


def stacked(tensors: Sequence[Tensor]) -> nn.Parameter:
    """The tensors stacked along a new first dimension, as a frozen parameter."""
    return nn.Parameter(torch.stack([t.detach() for t in tensors]), requires_grad=False)


def stacked_weights(tensors: Sequence[Tensor]) -> nn.Parameter:
    """(i, o) matrices stacked and `aligned`: (G, i', o'), a frozen parameter."""
    return nn.Parameter(aligned(torch.stack([t.detach() for t in tensors])), requires_grad=False)


class StackedSwitch(nn.Module):
    """The SwitchMoE layers of one block of G experts: G*E inner experts, each row routed among its own E."""

    def __init__(self, layers: Sequence[SwitchMoE]) -> None:
        super().__init__()
        self.config = layers[0].config
        self.router = nn.Parameter(
            torch.cat([layer.router.weight.detach() for layer in layers]).T.contiguous(), requires_grad=False
        )  # (d, G*E)
        self.w1 = stacked_weights([w for layer in layers for w in layer.w1])  # (G*E, d', h')
        self.w2 = stacked_weights([w for layer in layers for w in layer.w2])  # (G*E, h', d')

    def forward(self, z: Tensor, group: Tensor) -> Tensor:
        """SwitchMoE of each row's own expert on z (N, d), rows given with their expert group (N,)."""
        n, e, k = len(z), self.config.n_experts, self.config.top_k
        scores = (z @ self.router).view(n, len(self.w1) // e, e)  # (N, G, E) every router; one matmul
        own = scores[torch.arange(n), group].float()  # (N, E) the row's own expert's router logits
        probs = own.softmax(dim=-1)  # (N, E)
        weight, inner = probs.topk(k, dim=-1)  # (N, k) each, best first
        if k > 1:
            weight = weight / weight.sum(dim=1, keepdim=True)  # Mixtral: renormalised over the k
        key = (group[:, None] * e + inner).reshape(-1)  # (N*k,) inner expert of each assignment
        order = torch.argsort(key, stable=True)  # (N*k,) assignments sorted by inner expert
        row = order // k  # (N*k,) the row of each sorted assignment
        offs = offsets(key[order], len(self.w1))
        hidden = F.gelu(grouped_matmul(z[row], offs, self.w1))  # (N*k, h')
        y = grouped_matmul(hidden, offs, self.w2, z.shape[1]) * weight.reshape(-1)[order, None].to(
            z.dtype
        )  # (N*k, d)
        if k == 1:
            return torch.empty_like(z).index_copy_(0, row, y)  # (N, d) back in the rows' order
        return z.new_zeros(z.shape).index_add_(0, row, y)  # (N, d) each row's k outputs summed


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
        self.proj_w = stacked_weights([e.proj.weight.T for e in experts])  # (G, d_in', d')
        self.proj_b = stacked([e.proj.bias for e in experts])  # (G, d)
        self.head_w = stacked_weights([e.head.weight.T for e in experts])  # (G, d', C')
        self.head_b = stacked([e.head.bias for e in experts])  # (G, C)
        self.ln_f = self.norms([e.ln_f for e in experts])
        layers = range(self.config.n_layers)
        self.ln = nn.ParameterList(p for i in layers for p in self.norms([e.blocks[i].ln for e in experts]))
        self.moe = nn.ModuleList(StackedSwitch([e.blocks[i].moe for e in experts]) for i in layers)
        self.eval()

    @staticmethod
    def norms(norms: Sequence[nn.LayerNorm]) -> nn.ParameterList:
        """The LayerNorms' weights and biases, stacked: [(G, d), (G, d)]."""
        return nn.ParameterList([stacked([n.weight for n in norms]), stacked([n.bias for n in norms])])

    @staticmethod
    def norm(h: Tensor, group: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """LayerNorm of each row with the affine of its group: (N, d) -> (N, d)."""
        return torch.addcmul(bias[group], F.layer_norm(h, h.shape[1:]), weight[group])

    @torch.no_grad()
    def forward(self, x: Tensor, group: Tensor) -> Tensor:
        """Logits (N, C) of expert group[i] for each row x[i] of (N, d_in)."""
        assert x.dim() == 2 and len(x) == len(group), f"x {tuple(x.shape)} vs group {tuple(group.shape)}"
        order = torch.argsort(group, stable=True)  # (N,) the one sort by expert
        group = group[order]  # (N,) non-decreasing
        offs = offsets(group, self.n_groups)  # (G,) each expert's slice of the sorted rows
        h = (
            grouped_matmul(x[order], offs, self.proj_w, self.config.moe.d_model) + self.proj_b[group]
        )  # (N, d)
        for i, moe in enumerate(self.moe):
            h = h + moe(self.norm(h, group, self.ln[2 * i], self.ln[2 * i + 1]), group)
        h = self.norm(h, group, *self.ln_f)  # (N, d)
        logits = grouped_matmul(h, offs, self.head_w, self.config.n_classes) + self.head_b[group]  # (N, C)
        return torch.empty_like(logits).index_copy_(0, order, logits)  # (N, C) back in input order
