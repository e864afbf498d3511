"""Heads to ONNX: trace a saved gate or expert (`aiprime.moe.networks.load_model`) and quantise it to int8.

`export_head` traces whatever forward the module has, through a wrapper that keeps only `.logits`: first
with `torch.onnx.export(dynamo=True)` and a dynamic batch, its SwitchMoE layers traced in their dense form
(`dense_switch_layers`: the routed form sizes its buffers from the data); when that cannot trace it (a layer
that enforces capacity in eval), with the TorchScript exporter at a fixed batch of one, which bakes the
buffer sizes that hold for one row (the runtime then runs such a head row by row). Either way the file is
checked against the module on real rows before it is kept.

`quantize_head` quantises a float file: "static" calibrates activation ranges on rows of the val split
(onnxruntime's QDQ, int8 weights and activations), "dynamic" quantises weights ahead and activations per call
(onnxruntime's), "weights8" stores each 2-D weight as int8 with one scale per output channel behind a
DequantizeLinear (`quantize_weights`: only the weights are rounded; the arithmetic stays fp32).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from aiprime.edge.runtime import INPUT, OUTPUT
from aiprime.errors import StageFailed
from aiprime.moe.layers import MoEAux, SwitchMoE
from aiprime.moe.onnx_export import quiet

Quantization = Literal["static", "dynamic", "weights8", "none"]
QUANTIZATIONS: tuple[str, ...] = ("static", "dynamic", "weights8", "none")
DEFAULT_QUANTIZATION: Quantization = "weights8"  # static's int8 activations cost the bundle its 99% agreement
OPSET = 18  # torch 2.13's dynamo exporter emits 18; the TorchScript one is asked for it too
TOLERANCE = 1e-3  # largest |logit difference| between the exported float file and the module


class Logits(nn.Module):
    """A model of aiprime.moe.networks as a function of its input alone: x (N, d_in) -> logits (N, C)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).logits  # (N, C)


def export_head(module: nn.Module, path: Path, sample: np.ndarray) -> int:
    """Write `module`'s logits as a float ONNX file at `path`; its fixed batch (0: any, 1: one row).

    Args:
        module: a loaded model in eval mode.
        path: the `.onnx` file to write.
        sample: (N, d_in) float32 rows (N >= 2) the file must reproduce within TOLERANCE.

    Raises:
        StageFailed: neither exporter produced a file that reproduces the module.
    """
    wrapper = Logits(module).eval()
    try:
        with dense_switch_layers(module):
            _export(wrapper, path, sample[:2])
        check_export(wrapper, path, sample, batch=0)
        return 0
    except Exception as dynamic_error:  # noqa: BLE001 - torch.export raises many types when it cannot trace
        try:
            _export(wrapper, path, sample[:1])
            check_export(wrapper, path, sample, batch=1)
            return 1
        except Exception as e:  # re-raised: the TorchScript exporter and the check fail in many ways too
            raise StageFailed(
                f"Cannot export {type(module).__name__} to ONNX: dynamic batch: {dynamic_error!s:.300}; "
                f"one row: {e!s:.300}. Its forward must be traceable by torch.onnx.export."
            ) from e


def _export(wrapper: Logits, path: Path, rows: np.ndarray) -> None:
    """One export attempt traced on real `rows`: one row fixes the batch, more make it dynamic. The
    exporters' chatter (warnings, the dynamo report) is kept off the console."""
    x, dynamic = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)), len(rows) > 1
    names = {"input_names": [INPUT], "output_names": [OUTPUT], "opset_version": OPSET}
    with quiet(), torch.no_grad():
        if dynamic:
            batch = {"x": {0: torch.export.Dim("batch", min=1)}}
            program = torch.onnx.export(wrapper, (x,), dynamo=True, dynamic_shapes=batch, **names)
            program.save(str(path))
        else:
            with sort_as_topk():
                torch.onnx.export(wrapper, (x,), str(path), dynamo=False, **names)


def check_export(wrapper: Logits, path: Path, sample: np.ndarray, batch: int) -> None:
    """Assert that the file at `path` gives the module's logits on `sample` (row by row when batch is 1)."""
    from aiprime.edge.runtime import Head, session

    head = Head(session(path, threads=1), (), batch)
    rows = np.ascontiguousarray(sample, dtype=np.float32)
    got = np.concatenate([head.session.run([OUTPUT], {INPUT: r})[0] for r in _chunks(rows, batch)])
    with torch.no_grad():
        want = wrapper(torch.from_numpy(rows)).numpy()
    gap = float(np.abs(got - want).max())
    assert gap <= TOLERANCE, f"exported logits differ from the module's by {gap:.2e} > {TOLERANCE}"


def _chunks(rows: np.ndarray, batch: int) -> list[np.ndarray]:
    return [rows[i : i + 1] for i in range(len(rows))] if batch == 1 else [rows]


@contextlib.contextmanager
def dense_switch_layers(module: nn.Module) -> Iterator[None]:
    """Trace each SwitchMoE layer without capacity as `forward_dense`: every expert on every row, weighted by
    the gates. Same logits (`check_export` compares with the routed module), a dynamic batch, and an expert
    head of 57 nodes instead of about 230: 1.4 ms a row against 2.5 ms on one core, 0.16 ms with its weights
    folded at load (`runtime.session`). The layers' reports are not part of the logits; they read zero while
    tracing."""
    layers = [m for m in module.modules() if isinstance(m, SwitchMoE) and not m.config.capacity_in_eval]
    for layer in layers:
        layer.forward = functools.partial(_dense_unreported, layer)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _dense_unreported(layer: SwitchMoE, x: torch.Tensor) -> tuple[torch.Tensor, MoEAux]:
    zero, counts = x.new_zeros(()), torch.zeros(layer.config.n_experts, dtype=torch.long)
    return layer.forward_dense(x), MoEAux(zero, zero, counts, counts, counts.sum(), counts.sum(), 0)


@contextlib.contextmanager
def sort_as_topk() -> Iterator[None]:
    """Teach the TorchScript exporter `torch.sort(stable=True)` (it has no rule for it): a full-width TopK."""
    from torch.onnx import symbolic_helper

    def sort(g, x, stable, dim, descending):
        axis = symbolic_helper._get_const(dim, "i", "dim")
        largest = symbolic_helper._get_const(descending, "b", "descending")
        width = g.op("Gather", g.op("Shape", x), g.op("Constant", value_t=torch.tensor([axis])), axis_i=0)
        return g.op("TopK", x, width, axis_i=axis, largest_i=int(largest), sorted_i=1, outputs=2)

    torch.onnx.register_custom_op_symbolic("aten::sort", sort, OPSET)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::sort", OPSET)


def quantize_head(source: Path, target: Path, how: Quantization, calibration: np.ndarray, batch: int) -> None:
    """Write `source` quantised as `how` to `target` (a copy for "none").

    Args:
        calibration: (N, d_in) float32 rows whose activation ranges static quantisation calibrates on.
        batch: the file's fixed batch (0: any), to feed the calibration rows in.
    """
    from onnxruntime import quantization

    if how == "none":
        target.write_bytes(source.read_bytes())
        return
    if how == "weights8":
        quantize_weights(source, target)
        return
    with quiet():
        if how == "dynamic":
            quantization.quantize_dynamic(str(source), str(target), weight_type=quantization.QuantType.QInt8)
            return
        reader = Calibration(calibration, batch)
        quantization.quantize_static(
            str(source), str(target), reader, quant_format=quantization.QuantFormat.QDQ,
            activation_type=quantization.QuantType.QInt8, weight_type=quantization.QuantType.QInt8,
            per_channel=True,
        )  # fmt: skip


def quantize_weights(source: Path, target: Path) -> None:
    """Write `source` with each MatMul's and Gemm's constant float weight as int8, one symmetric scale per
    output channel, read through DequantizeLinear; biases, activations and arithmetic stay fp32.

    A weight is (K, N), (N, K) under Gemm's transB, or (E, K, N) for the SwitchMoE experts' stacked weights,
    whose E experts then share each output channel's scale.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    for node in list(graph.node):
        name = node.input[1] if node.op_type in ("MatMul", "Gemm") else ""
        w = numpy_helper.to_array(weights[name]) if name in weights else None
        if w is None or w.ndim < 2 or w.dtype != np.float32:
            continue
        transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        axis = 0 if transposed else w.ndim - 1  # the output channel
        q, scale = int8_per_channel(w, axis)
        graph.initializer.remove(weights.pop(name))
        graph.initializer.extend(
            [numpy_helper.from_array(q, f"{name}_int8"), numpy_helper.from_array(scale, f"{name}_scale")]
        )
        graph.node.insert(
            0, helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale"], [name], axis=axis)
        )
    onnx.save(model, str(target))


def int8_per_channel(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """`w` rounded to int8 with one scale per index of `axis`: (q like w, scale (w.shape[axis],))."""
    others = tuple(i for i in range(w.ndim) if i != axis)
    scale = np.abs(w).max(axis=others) / 127.0  # (channels,)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    shape = [-1 if i == axis else 1 for i in range(w.ndim)]
    return np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8), scale


class Calibration:
    """onnxruntime's CalibrationDataReader over rows of embeddings, in the file's batch (0: 64 at once)."""

    def __init__(self, rows: np.ndarray, batch: int) -> None:
        step = batch or 64
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        self._batches = iter([{INPUT: rows[i : i + step]} for i in range(0, len(rows), step)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)
