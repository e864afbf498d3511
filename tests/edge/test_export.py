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
from aiprime.edge.runtime import INPUT


class TwoLayers(nn.Module):
    """The shape of a gate or expert head: (N, 384) -> logits (N, 45)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(384, 256), nn.GELU(), nn.Linear(256, 45))

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.net(x))


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


@pytest.mark.parametrize("axis", [0, 1])
def test_per_channel_rounding_is_within_half_a_step_of_each_channel(axis: int) -> None:
    w = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    w[:, 2] = 0.0  # an all-zero channel keeps a usable scale

    q, scale = export.int8_per_channel(w, axis)

    shape = (-1, 1) if axis == 0 else (1, -1)
    assert q.dtype == np.int8 and scale.shape == (w.shape[axis],) and np.all(scale > 0)
    assert np.all(np.abs(q * scale.reshape(shape) - w) <= scale.reshape(shape) / 2 + 1e-7)
    assert np.abs(q).max() == 127
