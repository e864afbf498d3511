"""Experts run as one stacked pass: the same logits as each expert alone and as the per-token reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from aiprime.errors import InvalidInput
from aiprime.moe.experts import EXPERTS
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import ExpertConfig, ExpertNet
from aiprime.moe.reference import reference_expert
from aiprime.moe.stacking import StackedExperts, aligned, can_stack, grouped_matmul, offsets
from aiprime.moe.system import Member, MoESystem


def experts(n: int, top_k: int = 1, **moe: object) -> list[ExpertNet]:
    """`n` random experts of one small config, in eval mode."""
    config = ExpertConfig(
        n_classes=5, n_layers=2, moe=MoEConfig(d_model=16, d_hidden=24, n_experts=4, top_k=top_k, **moe)
    )
    torch.manual_seed(n + top_k)
    return [ExpertNet(config).eval() for _ in range(n)]


@pytest.mark.parametrize("top_k", [1, 2])
def test_each_input_gets_the_logits_of_its_own_expert(top_k: int) -> None:
    nets = experts(3, top_k, overflow="next")
    x, group = torch.randn(40, 384), torch.randint(0, 3, (40,))
    alone = torch.stack([nets[int(g)](x[i : i + 1]).logits[0] for i, g in enumerate(group)])
    torch.testing.assert_close(StackedExperts(nets)(x, group), alone, atol=1e-5, rtol=1e-5)


def test_the_stacked_pass_matches_the_per_token_reference() -> None:
    nets = experts(2)
    x, group = torch.randn(12, 384), torch.tensor([0, 1] * 6)
    reference = torch.cat([reference_expert(nets[int(g)], x[i : i + 1]) for i, g in enumerate(group)])
    torch.testing.assert_close(StackedExperts(nets)(x, group), reference, atol=1e-5, rtol=1e-5)


def test_grouped_matmul_is_each_rows_own_matmul_with_groups_left_empty() -> None:
    weight = torch.randn(4, 6, 3)
    x, group = torch.randn(9, 6), torch.tensor([0, 0, 0, 3, 3, 3, 3, 3, 3])  # groups 1 and 2 get no row
    expected = torch.stack([x[i] @ weight[g] for i, g in enumerate(group.tolist())])
    padded = aligned(weight)  # (4, 8, 4): grouped_mm wants 16-byte strides
    torch.testing.assert_close(grouped_matmul(x, offsets(group, 4), padded, 3), expected)
    assert grouped_matmul(x[:0], offsets(group[:0], 4), padded, 3).shape == (0, 3)


def test_inputs_of_one_expert_or_none_of_some_experts_keep_their_order() -> None:
    nets = experts(3)
    x, group = torch.randn(10, 384), torch.full((10,), 2)
    alone = nets[2](x).logits
    torch.testing.assert_close(StackedExperts(nets)(x, group), alone, atol=1e-5, rtol=1e-5)
    assert StackedExperts(nets)(x[:0], group[:0]).shape == (0, 5)


def test_experts_of_different_shapes_or_batch_dependent_outputs_are_not_stacked() -> None:
    assert can_stack(experts(2))
    assert not can_stack([*experts(1), *experts(1, top_k=2)])
    assert not can_stack(experts(2, capacity_in_eval=True))  # a row's output would depend on its batch
    with pytest.raises(InvalidInput, match="one by one"):
        StackedExperts([*experts(1), *experts(1, top_k=2)])


@pytest.mark.slow
def test_the_system_answers_the_same_stacked_or_expert_by_expert(
    tiny_models: dict[str, Path], tiny_splits: dict
) -> None:
    system = MoESystem.from_folders(tiny_models["gate"], [tiny_models[s.name] for s in EXPERTS])
    assert system.stack is not None  # upcycled experts share one shape
    looped = MoESystem.from_folders(tiny_models["gate"], [tiny_models[s.name] for s in EXPERTS])
    looped.stack = None
    x = tiny_splits["test"].x
    for k in (1, 2):
        stacked, one_by_one = system.predict(x, top_k=k), looped.predict(x, top_k=k)
        assert stacked.fine_class == one_by_one.fine_class
        np.testing.assert_allclose(stacked.fine_probability, one_by_one.fine_probability, atol=1e-5)


@pytest.mark.slow
def test_experts_of_different_shapes_run_one_by_one(tiny_models: dict[str, Path], tiny_splits: dict) -> None:
    gate = Member.load(tiny_models["gate"])
    living, actions = Member.load(tiny_models["living"]), Member.load(tiny_models["actions"])
    wider = ExpertNet(dataclasses.replace(living.module.config, n_classes=3)).eval()
    odd = Member(wider, ("noun.animal", "noun.plant", "noun.body"), {**living.metadata, "expert": "living"})
    system = MoESystem(gate, {"living": odd, "actions": actions})
    assert system.stack is None
    x = tiny_splits["test"].x
    prediction = system.predict(x, top_k=1)
    rows = np.asarray(prediction.expert) == "living"
    expected = np.asarray(odd.classes)[odd.probabilities(x[rows]).argmax(axis=1)]
    assert np.asarray(prediction.fine_class)[rows].tolist() == expected.tolist()
