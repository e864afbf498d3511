"""Sparse upcycling: experts that start as the trained dense baseline and are fine-tuned on their domain.

Komatsuzaki et al., "Sparse Upcycling: Training Mixture-of-Experts from Dense Checkpoints", ICLR 2023
(https://arxiv.org/abs/2212.05055). An upcycled `ExpertNet` copies the `DenseBaseline`'s input projection,
LayerNorms and head (all 45 classes, so a misrouted input can still be answered right), and every SwitchMoE
expert of a block is a copy of that block's FFN; only the routers are new.

A top-1 SwitchMoE weights its expert's output by the router probability p, which a fresh router keeps near
1/E: the copies' output weights are scaled by E (top-2's renormalised weights sum to 1 and need no scale),
and the router starts small (`ROUTER_INIT_SCALE`) so that p stays near 1/E for every token. The upcycled
expert then computes what the dense model computes, up to that small spread of p.
"""

from __future__ import annotations

import numpy as np
import torch

from aiprime.errors import InvalidInput
from aiprime.moe.dataset import TaskSplit
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import DenseBaseline, DenseConfig, ExpertConfig, ExpertNet

ROUTER_INIT_SCALE = 0.1  # of nn.Linear's default init: router probabilities within a few % of 1/E


def upcycled_config(dense: DenseConfig, moe: MoEConfig) -> ExpertConfig:
    """The expert config whose SwitchMoE experts have the dense model's FFN shape, over its classes."""
    if (moe.d_model, moe.d_hidden) != (dense.d_model, dense.d_hidden):
        raise InvalidInput(
            f"Cannot upcycle a dense model of d_model={dense.d_model}, d_hidden={dense.d_hidden} into SwitchMoE "
            f"experts of d_model={moe.d_model}, d_hidden={moe.d_hidden}: give the expert spec the dense "
            "model's shapes, or init='scratch'."
        )
    return ExpertConfig(d_in=dense.d_in, n_classes=dense.n_classes, n_layers=dense.n_layers, moe=moe)


def output_scale(moe: MoEConfig) -> float:
    """What a copied FFN's output weights are multiplied by so that routing to it at p = 1/E changes nothing."""
    return float(moe.n_experts) if moe.top_k == 1 else 1.0


@torch.no_grad()
def upcycle(dense: DenseBaseline, moe: MoEConfig, seed: int) -> ExpertNet:
    """An expert whose weights are the dense model's, with a fresh router seeded by `seed` in every block."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expert = ExpertNet(upcycled_config(dense.config, moe))
    for copy, source in ((expert.proj, dense.proj), (expert.ln_f, dense.ln_f), (expert.head, dense.head)):
        copy.load_state_dict(source.state_dict())
    for block, ffn in zip(expert.blocks, dense.blocks, strict=True):
        block.ln.load_state_dict(ffn.ln.state_dict())
        block.moe.w1.copy_(ffn.fc.weight.T.expand_as(block.moe.w1))  # (E, d, h) <- (d, h)
        block.moe.w2.copy_(ffn.out.weight.T.expand_as(block.moe.w2) * output_scale(moe))  # (E, h, d)
        block.moe.router.weight.mul_(ROUTER_INIT_SCALE)
    return expert


def fine_tuning_rows(train: TaskSplit, domain: str, other_share: float, seed: int) -> TaskSplit:
    """The domain's rows plus `other_share` as many rows of the other domains, drawn with `seed`.

    The other domains' rows keep the expert answering inputs the gate sends it by mistake.
    """
    own = train.domain == domain
    others = np.flatnonzero(~own)
    n_others = min(len(others), round(other_share * int(own.sum())))
    drawn = np.random.default_rng(seed).choice(others, size=n_others, replace=False)
    keep = own.copy()
    keep[drawn] = True
    return train.where(keep)
