"""Sparse upcycling: an expert starts as the dense model, then is fine-tuned on its domain."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from aiprime.errors import InvalidInput
from aiprime.moe import fitting
from aiprime.moe.dataset import all_classes
from aiprime.moe.experts import EXPERTS
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import DenseBaseline, DenseConfig, ExpertConfig
from aiprime.moe.system import Member
from aiprime.moe.upcycling import fine_tuning_rows, upcycle

MOE = MoEConfig(d_model=16, d_hidden=24, n_experts=4, top_k=1)


def dense_model() -> DenseBaseline:
    """A random dense model whose FFNs have MOE's expert shape."""
    torch.manual_seed(0)
    return DenseBaseline(DenseConfig.upcycling_source(ExpertConfig(n_classes=7, moe=MOE))).eval()


@pytest.mark.parametrize("top_k", [1, 2])
def test_an_upcycled_expert_computes_what_the_dense_model_computes(top_k: int) -> None:
    dense, x = dense_model(), torch.randn(64, 384)
    expert = upcycle(dense, dataclasses.replace(MOE, top_k=top_k), seed=1).eval()
    if top_k == 1:  # p = 1/E exactly: the copies' outputs, scaled by E, add up to the dense FFN's
        for block in expert.blocks:
            block.moe.router.weight.data.zero_()
    torch.testing.assert_close(expert(x).logits, dense(x).logits, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_a_fresh_router_starts_near_uniform_so_top1_stays_close_to_the_dense_model() -> None:
    dense, x = dense_model(), torch.randn(256, 384)
    expert = upcycle(dense, MOE, seed=1).eval()
    probs = expert.blocks[0].moe.router(expert.blocks[0].ln(expert.proj(x))).softmax(dim=-1)  # (N, E)
    assert float((probs - 1 / MOE.n_experts).abs().max()) < 0.05
    assert (expert(x).logits.argmax(1) == dense(x).logits.argmax(1)).float().mean() > 0.95


def test_every_inner_expert_copies_the_dense_ffn_and_only_the_routers_are_new() -> None:
    dense = dense_model()
    one, two = upcycle(dense, MOE, seed=1), upcycle(dense, MOE, seed=2)
    for block, ffn in zip(one.blocks, dense.blocks, strict=True):
        for e in range(MOE.n_experts):
            torch.testing.assert_close(block.moe.w1[e], ffn.fc.weight.T)
            torch.testing.assert_close(block.moe.w2[e], ffn.out.weight.T * MOE.n_experts)
    torch.testing.assert_close(one.head.weight, dense.head.weight)
    assert not torch.equal(one.blocks[0].moe.router.weight, two.blocks[0].moe.router.weight)


def test_a_dense_model_of_another_shape_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidInput, match="init='scratch'"):
        upcycle(dense_model(), dataclasses.replace(MOE, d_hidden=32), seed=0)


def test_fine_tuning_rows_are_the_domain_plus_a_share_of_the_others(tiny_splits: dict) -> None:
    train = tiny_splits["train"]
    rows = fine_tuning_rows(train, "living", other_share=0.5, seed=0)
    own = int((train.domain == "living").sum())
    assert int((rows.domain == "living").sum()) == own and len(rows) == own + round(0.5 * own)
    assert fine_tuning_rows(train, "living", 0.5, seed=0).synset_id.tolist() == rows.synset_id.tolist()


@pytest.mark.slow
def test_an_upcycled_expert_answers_every_class_and_names_its_dense_model(
    tiny_models: dict[str, Path],
) -> None:
    expert, dense = Member.load(tiny_models["living"]), Member.load(tiny_models["dense"])
    assert expert.classes == all_classes() and expert.metadata["init"] == "upcycle"
    assert expert.metadata["dense"] == dense.metadata["fingerprint"]


@pytest.mark.slow
def test_a_scratch_expert_answers_its_domain_only(tmp_path: Path, tiny_splits: dict, tiny_run) -> None:
    spec = dataclasses.replace(EXPERTS[0], init="scratch")
    member = Member.load(
        fitting.train_expert(spec, tiny_splits["train"], tiny_splits["val"], tmp_path, tiny_run)
    )
    assert len(member.classes) < len(all_classes()) and member.metadata["init"] == "scratch"
    test = tiny_splits["test"].of_domain(spec.domain)
    predicted = np.asarray(member.classes)[member.probabilities(test.x).argmax(axis=1)]
    assert (predicted == test.lexname).mean() > 0.9
