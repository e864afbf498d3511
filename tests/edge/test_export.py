"""Heads to ONNX and their quantisations: weights8 rounds only the weights, per output channel."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from aiprime.edge import export
from aiprime.edge.runtime import INPUT, session
from aiprime.moe.layers import MoEConfig, SwitchMoE


class TwoLayers(nn.Module):
    """The shape of a gate or expert head: (N, 384) -> logits (N, 45)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(384, 256), nn.GELU(), nn.Linear(256, 45))

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.net(x))


class SwitchHead(nn.Module):
    """A SwitchMoE layer (4 experts, top-1, no capacity in eval) before a linear head, as an expert net."""

    def __init__(self) -> None:
        super().__init__()
        self.moe = SwitchMoE(MoEConfig(d_model=384, d_hidden=64, n_experts=4))
        self.head = nn.Linear(384, 45)

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        y, aux = self.moe(x)  # (N, 384)
        return SimpleNamespace(logits=self.head(x + y), aux=aux.loss)


class StackedExperts(nn.Module):
    """Weights stacked per expert, as the SwitchMoE experts hold them: (E, 384, 45) in one MatMul."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 384, 45) / 20)

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=(x.unsqueeze(0) @ self.w).mean(0))  # (E, N, 45) -> (N, 45)


@pytest.fixture(scope="module")
def head_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    torch.manual_seed(0)
    rows = np.random.default_rng(0).standard_normal((600, 384)).astype(np.float32)
    path = tmp_path_factory.mktemp("head") / "head.fp32.onnx"
    assert export.export_head(TwoLayers().eval(), path, rows[:8]) == 0  # any batch
    return path, rows


def logits(path: Path, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT: rows})[0]


def test_weights8_stores_every_weight_as_int8_and_keeps_the_heads_answers(head_file, tmp_path: Path) -> None:
    fp32, rows = head_file
    target = tmp_path / "head.onnx"

    export.quantize_head(fp32, target, "weights8", rows[:64], batch=0)

    graph = onnx.load(str(target)).graph
    dequantised = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    weights = [node.input[1] for node in graph.node if node.op_type in ("MatMul", "Gemm")]
    assert len(weights) == 2 and set(weights) <= dequantised
    assert {numpy_helper.to_array(i).dtype for i in graph.initializer if i.name.endswith("_int8")} == {
        np.dtype(np.int8)
    }
    assert target.stat().st_size < 0.35 * fp32.stat().st_size
    before, after = logits(fp32, rows), logits(target, rows)
    assert np.abs(after - before).max() < 0.02 * np.abs(before).max()
    assert (after.argmax(1) == before.argmax(1)).mean() >= 0.99


def test_weights8_quantises_weights_stacked_per_expert(head_file, tmp_path: Path) -> None:
    _, rows = head_file
    fp32, target = tmp_path / "stacked.fp32.onnx", tmp_path / "stacked.onnx"
    export.export_head(StackedExperts().eval(), fp32, rows[:8])

    export.quantize_head(fp32, target, "weights8", rows[:64], batch=0)

    floats = [i for i in onnx.load(str(target)).graph.initializer if numpy_helper.to_array(i).size > 1000]
    assert floats and all(numpy_helper.to_array(i).dtype == np.dtype(np.int8) for i in floats)
    before, after = logits(fp32, rows), logits(target, rows)
    assert np.abs(after - before).max() < 0.02 * np.abs(before).max()


@pytest.mark.parametrize(("shape", "axis"), [((7, 5), 0), ((7, 5), 1), ((4, 7, 5), 2)])
def test_per_channel_rounding_is_within_half_a_step_of_each_channel(
    shape: tuple[int, ...], axis: int
) -> None:
    w = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    w[..., 2] = 0.0  # an all-zero channel (along the last axis) keeps a usable scale

    q, scale = export.int8_per_channel(w, axis)

    step = scale.reshape([-1 if i == axis else 1 for i in range(w.ndim)])
    assert q.dtype == np.int8 and scale.shape == (w.shape[axis],) and np.all(scale > 0)
    assert np.all(np.abs(q * step - w) <= step / 2 + 1e-7)
    assert np.abs(q).max() == 127


def test_a_switch_layer_exports_with_any_batch_and_the_routed_answers(head_file, tmp_path: Path) -> None:
    _, rows = head_file
    torch.manual_seed(0)
    module, path = SwitchHead().eval(), tmp_path / "switch.onnx"

    assert export.export_head(module, path, rows[:8]) == 0  # traced densely: no per-row buffers

    with torch.no_grad():
        routed = module(torch.from_numpy(rows)).logits.numpy()
    np.testing.assert_allclose(logits(path, rows), routed, atol=1e-4)
    assert type(module.moe).forward is SwitchMoE.forward and "forward" not in vars(module.moe)  # restored


def test_heads_folded_at_load_answer_as_the_int8_file(head_file, tmp_path: Path) -> None:
    _, rows = head_file
    fp32, target = tmp_path / "stacked.fp32.onnx", tmp_path / "stacked.onnx"
    export.export_head(StackedExperts().eval(), fp32, rows[:8])
    export.quantize_head(fp32, target, "weights8", rows[:64], batch=0)

    folded = session(target, threads=1, fold_weights=True).run(None, {INPUT: rows})[0]

    np.testing.assert_allclose(folded, logits(target, rows), rtol=1e-5, atol=1e-5)
