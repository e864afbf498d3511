"""`aiprime.edge.bundle.build`: what a published bundle holds, and the quality gate that refuses to publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from aiprime.edge.bundle import build
from aiprime.edge.quality import Quality
from aiprime.edge.runtime import MANIFEST, EdgeModel, sha256_of
from aiprime.errors import DataCorrupt, QualityGateFailed
from aiprime.moe.system import MoESystem


def test_manifest_names_every_file_with_its_sha256_and_the_heads_classes(edge_bundle: Path, edge_champions):
    manifest = json.loads((edge_bundle / MANIFEST).read_text())
    entries = [manifest["encoder"], manifest["tokenizer"], manifest["gate"], *manifest["experts"].values()]
    assert all(sha256_of(edge_bundle / e["file"]) == e["sha256"] for e in entries)
    assert sorted(manifest["experts"]) == sorted(edge_champions.experts)
    assert manifest["encoder"]["model"].startswith("all-MiniLM-L6-v2-blockwise-int8-b16@")
    assert manifest["quality"]["agreement"] >= 0.99
    assert manifest["gate"]["quantization"] == "weights8"


def test_heads_weights_are_int8_and_their_activations_float(edge_bundle: Path):
    graph = onnx.load(str(edge_bundle / "gate.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert "DequantizeLinear" in ops and "QuantizeLinear" not in ops
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.initializer)


def test_bundle_routes_like_the_torch_champion(edge_bundle: Path, edge_champions, fitted_rows):
    champion = MoESystem.from_folders(
        edge_champions.gate.folder, [s.folder for s in edge_champions.experts.values()]
    )
    want = champion.predict(fitted_rows.x_fp32, top_k=1)
    got = EdgeModel(edge_bundle).predict(fitted_rows.texts)
    assert np.mean(np.array(got.expert) == np.array(want.expert)) >= 0.99
    assert np.mean(np.array(got.label) == np.array(want.fine_class)) >= 0.99


def test_broken_quantisation_is_refused_and_the_published_bundle_kept(
    tmp_path: Path, edge_bundle: Path, edge_champions, fitted_rows, blockwise
):
    out = tmp_path / "bundle"
    shutil.copytree(edge_bundle, out)
    before = sha256_of(out / MANIFEST)
    crushed = fitted_rows.x_fp32 * 1e-3  # activation ranges 1000x too narrow: every activation clips
    with pytest.raises(QualityGateFailed, match="Nothing was published"):
        build(out, edge_champions, fitted_rows, "static", calibration=crushed, choice=blockwise)
    assert sha256_of(out / MANIFEST) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no partial folder left


def test_refused_first_build_leaves_no_folder(tmp_path: Path, edge_champions, fitted_rows, blockwise):
    with pytest.raises(QualityGateFailed):
        build(
            tmp_path / "bundle", edge_champions, fitted_rows, "static", calibration=fitted_rows.x_fp32 * 1e-3,
            choice=blockwise,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_file_is_refused_on_load(tmp_path: Path, edge_bundle: Path):
    copy = shutil.copytree(edge_bundle, tmp_path / "bundle")
    data = bytearray((copy / "gate.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "gate.onnx").write_bytes(bytes(data))
    with pytest.raises(DataCorrupt, match="gate.onnx"):
        EdgeModel(copy)


TRUTH = ["a"] * 50 + ["b"] * 50
FP32 = ["b"] * 2 + ["a"] * 48 + ["b"] * 50  # two a's taken for b


@pytest.mark.parametrize(
    ("edge", "fails"),
    [
        (FP32, []),  # the champion's answers
        (["a"] * 52 + ["b"] * 48, ["agreement"]),  # the mirror errors: the same macro-F1, 96% agreement
        (["a"] * 100, ["macro-F1", "agreement"]),
    ],
)
def test_quality_gate_bars(edge: list[str], fails: list[str]):
    quality = Quality.of(np.array(TRUTH), np.array(FP32), np.array(edge))
    assert len(quality.failures) == len(fails), quality
    assert all(word in reason for word, reason in zip(fails, quality.failures, strict=True))
