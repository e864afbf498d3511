"""SwitchMoE: routing, capacity, overflow, auxiliary losses and agreement with the per-token reference."""

from __future__ import annotations

import math

import pytest
import torch

from aiprime.errors import InvalidInput
from aiprime.moe.layers import MoEConfig, SwitchMoE
from aiprime.moe.reference import reference_forward


def crafted(n_experts: int, **overrides: object) -> SwitchMoE:
    """A layer whose router logits equal its input (d_model = E, router weight = identity)."""
    moe = SwitchMoE(MoEConfig(d_model=n_experts, d_hidden=8, n_experts=n_experts, **overrides))
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(n_experts))
    return moe


def same_preference(n_tokens: int) -> torch.Tensor:
    """Tokens that all rank expert 0 > 1 > 2 (logits 3, 2, 1)."""
    return torch.tensor([[3.0, 2.0, 1.0]]).repeat(n_tokens, 1)


def test_gradients_reach_router_and_every_used_expert() -> None:
    torch.manual_seed(0)
    moe = SwitchMoE(MoEConfig(d_model=8, d_hidden=16, n_experts=4, top_k=2, capacity_factor=2.0))
    x = torch.randn(64, 8, requires_grad=True)
    out, aux = moe(x)
    (out.square().sum() + aux.loss).backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0
    for e in range(4):
        assert aux.expert_counts[e] > 0, f"expert {e} unused; pick another seed"
        assert moe.w1.grad[e].abs().sum() > 0 and moe.w2.grad[e].abs().sum() > 0, f"no gradient to expert {e}"
    assert x.grad.abs().sum() > 0


def test_unchosen_expert_gets_no_gradient() -> None:
    moe = crafted(3, capacity_factor=3.0)  # capacity 4: nothing dropped
    out, aux = moe(same_preference(4))
    out.sum().backward()
    assert aux.expert_counts.tolist() == [4, 0, 0]
    assert moe.w1.grad[1:].abs().sum() == 0 and moe.w1.grad[0].abs().sum() > 0


def test_balance_loss_matches_hand_computed_case() -> None:
    # Three tokens with p = (3/4, 1/4), one with p = (1/4, 3/4): f = (3/4, 1/4), P = (5/8, 3/8).
    moe = crafted(2, balance_alpha=0.01, capacity_factor=4.0)
    x = torch.tensor([[math.log(3), 0.0]] * 3 + [[0.0, math.log(3)]])
    _, aux = moe(x)
    expected = 0.01 * 2 * (3 / 4 * 5 / 8 + 1 / 4 * 3 / 8)  # alpha * E * sum f_i P_i = 0.01125
    assert aux.balance_loss.item() == pytest.approx(expected, rel=1e-6)
    assert aux.routed_counts.tolist() == [3, 1]


def test_balance_loss_is_alpha_when_routing_is_uniform() -> None:
    moe = crafted(2, balance_alpha=0.5, top_k=2, capacity_factor=4.0)
    _, aux = moe(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))  # f = (1/2, 1/2), P = (1/2, 1/2)
    assert aux.balance_loss.item() == pytest.approx(0.5, rel=1e-6)


def test_z_loss_matches_hand_computed_case() -> None:
    moe = crafted(2, z_loss_coef=0.1)
    _, aux = moe(torch.tensor([[math.log(3), 0.0], [0.0, 0.0]]))  # logsumexp: log 4, log 2
    assert aux.z_loss.item() == pytest.approx(0.1 * (math.log(4) ** 2 + math.log(2) ** 2) / 2, rel=1e-6)


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("overflow", ["drop", "next"])
@pytest.mark.parametrize("capacity_factor", [0.5, 1.0, 1.25])
def test_no_expert_exceeds_capacity(top_k: int, overflow: str, capacity_factor: float) -> None:
    torch.manual_seed(1)
    cfg = MoEConfig(
        d_model=8, d_hidden=8, n_experts=4, top_k=top_k, capacity_factor=capacity_factor, overflow=overflow
    )
    moe = SwitchMoE(cfg)
    with torch.no_grad():
        moe.router.weight[0] += 2.0  # skew the router so that capacity binds
    _, aux = moe(torch.randn(101, 8))
    assert aux.capacity == math.ceil(capacity_factor * 101 * top_k / 4)
    assert int(aux.expert_counts.max()) <= aux.capacity, (
        f"counts {aux.expert_counts.tolist()} > {aux.capacity}"
    )
    assert int(aux.expert_counts.sum() + aux.n_dropped) == 101 * top_k


def test_drop_policy_counts_on_crafted_case() -> None:
    # 6 tokens all prefer expert 0; capacity = ceil(1.0 * 6 * 1 / 3) = 2.
    _, aux = crafted(3, capacity_factor=1.0, overflow="drop")(same_preference(6))
    assert (aux.capacity, aux.expert_counts.tolist()) == (2, [2, 0, 0])
    assert (int(aux.n_dropped), int(aux.n_overflowed)) == (4, 0)


def test_next_policy_counts_on_crafted_case() -> None:
    # Tokens 0-1 fill expert 0, tokens 2-3 overflow to expert 1, tokens 4-5 find expert 1 full too.
    _, aux = crafted(3, capacity_factor=1.0, overflow="next")(same_preference(6))
    assert aux.expert_counts.tolist() == [2, 2, 0]
    assert (int(aux.n_dropped), int(aux.n_overflowed)) == (2, 2)


def test_next_policy_top2_retries_each_slot_at_a_distinct_rank() -> None:
    # capacity = ceil(1.0 * 3 * 2 / 3) = 2: token 2 overflows both its slots; the first retries at rank 2
    # (expert 2), the second would need rank 3, which does not exist, so it is dropped.
    _, aux = crafted(3, top_k=2, capacity_factor=1.0, overflow="next")(same_preference(3))
    assert aux.expert_counts.tolist() == [2, 2, 1]
    assert (int(aux.n_dropped), int(aux.n_overflowed)) == (1, 1)


def test_dropped_token_contributes_zero() -> None:
    out, aux = crafted(3, capacity_factor=1.0, overflow="drop")(same_preference(6))
    assert int(aux.n_dropped) == 4
    assert out[:2].abs().sum() > 0 and torch.equal(out[2:], torch.zeros(4, 3))


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("overflow", ["drop", "next"])
@pytest.mark.parametrize("capacity_factor", [0.6, 1.0, 8.0])
def test_matches_reference(top_k: int, overflow: str, capacity_factor: float) -> None:
    torch.manual_seed(top_k * 10 + int(capacity_factor * 10))
    moe = SwitchMoE(
        MoEConfig(
            d_model=12,
            d_hidden=20,
            n_experts=5,
            top_k=top_k,
            capacity_factor=capacity_factor,
            overflow=overflow,
        )
    )
    x = torch.randn(40, 12)
    out, aux = moe(x)
    ref = reference_forward(moe, x)
    torch.testing.assert_close(out, ref.out.detach(), atol=1e-5, rtol=1e-5)
    assert aux.expert_counts.tolist() == ref.expert_counts
    assert (int(aux.n_dropped), int(aux.n_overflowed)) == (ref.n_dropped, ref.n_overflowed)
    assert aux.balance_loss.item() == pytest.approx(ref.balance_loss, rel=1e-5)
    assert aux.z_loss.item() == pytest.approx(ref.z_loss, rel=1e-5)


def test_eval_output_of_a_row_does_not_depend_on_its_batch() -> None:
    moe = crafted(3, capacity_factor=0.5).eval()
    batch = same_preference(6) + torch.randn(6, 3) * 0.01
    out, aux = moe(batch)
    assert int(aux.n_dropped) == 0
    torch.testing.assert_close(out[5:], moe(batch[5:])[0])


@pytest.mark.parametrize(
    ("field", "value"), [("top_k", 3), ("overflow", "spill"), ("capacity_factor", 0.0), ("n_experts", 1)]
)
def test_invalid_config_names_the_field(field: str, value: object) -> None:
    overrides = {"top_k": 2} if field == "n_experts" else {}
    with pytest.raises(InvalidInput, match=field):
        MoEConfig(**(overrides | {field: value}))


@pytest.mark.parametrize("top_k", [1, 2])
def test_the_dense_form_gives_the_routed_output_when_capacity_is_not_enforced(top_k: int) -> None:
    torch.manual_seed(0)
    moe = SwitchMoE(MoEConfig(d_model=8, d_hidden=16, n_experts=4, top_k=top_k)).eval()
    x = torch.randn(50, 8)
    with torch.no_grad():
        routed, aux = moe(x)
        dense = moe.forward_dense(x)
    assert int(aux.n_dropped) == 0 and len(set(aux.expert_counts.tolist())) > 1  # uneven, nothing dropped
    torch.testing.assert_close(dense, routed, rtol=1e-5, atol=1e-6)
