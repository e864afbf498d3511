"""GateNet, ExpertNet, DenseBaseline: parameter arithmetic, outputs, and save/load without Lightning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aiprime.errors import DataCorrupt, NotFound
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import (
    DenseBaseline,
    DenseConfig,
    ExpertConfig,
    ExpertNet,
    GateConfig,
    GateNet,
    active_parameters,
    build_model,
    load_metadata,
    load_model,
    n_outputs,
    save_model,
)


def expert_config(n_experts: int = 4, top_k: int = 1) -> ExpertConfig:
    """A small two-layer expert."""
    moe = MoEConfig(d_model=16, d_hidden=24, n_experts=n_experts, top_k=top_k)
    return ExpertConfig(d_in=32, n_classes=5, n_layers=2, moe=moe)


@pytest.mark.parametrize("top_k", [1, 2])
def test_active_parameters_follow_the_documented_arithmetic(top_k: int) -> None:
    d_in, d, h, e, c, layers = 32, 16, 24, 4, 5, 2
    expected = d_in * d + d + layers * (2 * d + d * e + top_k * 2 * d * h) + 2 * d + d * c + c
    assert active_parameters(ExpertNet(expert_config(e, top_k))) == expected


@pytest.mark.parametrize("top_k", [1, 2])
def test_dense_baseline_has_the_active_parameters_of_one_expert_path(top_k: int) -> None:
    cfg = expert_config(4, top_k)
    dense = DenseBaseline(DenseConfig.matching(cfg))
    assert dense.config.d_hidden == top_k * 24 + 2
    assert active_parameters(dense) == sum(p.numel() for p in dense.parameters())
    assert active_parameters(dense) == active_parameters(ExpertNet(cfg))


def test_dense_baseline_for_odd_experts_is_d_model_smaller_per_layer() -> None:
    cfg = expert_config(5, 1)
    gap = active_parameters(ExpertNet(cfg)) - active_parameters(DenseBaseline(DenseConfig.matching(cfg)))
    assert gap == cfg.n_layers * cfg.moe.d_model


@pytest.mark.parametrize(
    "config", [GateConfig(d_in=32, n_domains=3), expert_config(), DenseConfig(d_in=32, n_classes=5)], ids=type
)
def test_outputs_have_one_logit_per_class_and_a_scalar_aux_loss(config: object) -> None:
    out = build_model(config)(torch.randn(10, 32))
    assert out.logits.shape == (10, n_outputs(config))
    assert out.aux_loss.shape == ()


def test_gate_balance_loss_is_alpha_times_domains_times_sum_f_p() -> None:
    gate = GateNet(GateConfig(d_in=32, n_domains=3, balance_alpha=0.1)).eval()
    x = torch.randn(20, 32)
    out = gate(x)
    probs = out.logits.softmax(dim=-1)
    f = torch.bincount(probs.argmax(dim=-1), minlength=3) / 20
    torch.testing.assert_close(out.aux_loss, 0.1 * 3 * (f * probs.mean(dim=0)).sum())
    assert torch.equal(gate.route(x), probs.argmax(dim=-1))


@pytest.mark.parametrize(
    "config", [GateConfig(d_in=32, n_domains=3), expert_config(top_k=2), DenseConfig(d_in=32)], ids=type
)
def test_save_load_round_trips_identical_outputs(config: object, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(config).eval()
    path = save_model(model, tmp_path / "m" / "model.pt", {"labels": ["a", "b"]})
    loaded = load_model(path)
    x = torch.randn(7, 32)
    assert loaded.config == config and not loaded.training
    assert torch.equal(loaded(x).logits, model(x).logits)
    assert load_metadata(path) == {"labels": ["a", "b"]}


def test_load_model_does_not_import_lightning(tmp_path: Path) -> None:
    path = save_model(ExpertNet(expert_config()), tmp_path / "model.pt")
    code = (
        "import sys; from aiprime.moe.networks import load_model; "
        f"load_model({str(path)!r}); assert 'lightning' not in sys.modules, 'serving imported lightning'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_model_of_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="fit"):
        load_model(tmp_path / "absent.pt")


def test_load_model_of_a_foreign_file_raises_data_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(DataCorrupt, match="save_model"):
        load_model(path)


def test_a_two_input_gate_reads_a_bare_text_embedding_as_its_own_word() -> None:
    gate = GateNet(GateConfig(d_in=32, n_inputs=2, d_hidden=0, n_domains=3)).eval()
    x = torch.randn(5, 32)
    torch.testing.assert_close(gate(x).logits, gate(torch.cat([x, x], dim=1)).logits)
    assert not torch.allclose(gate(torch.cat([x, -x], dim=1)).logits, gate(x).logits)
    assert sum(p.numel() for p in gate.parameters()) == 64 * 3 + 3  # one linear layer over both embeddings
