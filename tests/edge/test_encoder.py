"""The bundle's encoder: the fp32 MiniLM quantised at build time so that its weights stay int8 when it runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from aiprime.edge.encoder import EncoderChoice, encoder_file, stage
from aiprime.edge.runtime import MANIFEST, Encoder, sha256_of
from aiprime.moe.embeddings import model_path
from aiprime.rag import onnx_embed


def test_blockwise_encoder_runs_int8_weights(edge_bundle: Path):
    manifest = json.loads((edge_bundle / MANIFEST).read_text())
    assert manifest["encoder"]["kind"] == "blockwise"
    ops = Counter(n.op_type for n in onnx.load(str(edge_bundle / "encoder.onnx")).graph.node)
    # 18 dense MatMuls, the last FFN's output left in float; the word-piece table read in 8 bits
    assert ops["MatMulNBits"] == 17 and ops["MatMul"] == 1, ops
    assert ops["GatherBlockQuantized"] == 1 and ops["Attention"] == 6, ops
    assert "DequantizeLinear" not in ops, ops  # no int8 weight that onnxruntime would fold back to fp32


def test_blockwise_embeddings_stay_close_to_fp32(edge_bundle: Path, fitted_rows):
    encoder = Encoder(edge_bundle / "encoder.onnx", edge_bundle / "tokenizer.json")
    cosine = (encoder.embed(fitted_rows.texts) * fitted_rows.x_fp32).sum(axis=1)  # both unit-norm
    assert cosine.min() >= 0.999, cosine.min()


def test_blockwise_file_is_cached(blockwise: EncoderChoice, edge_bundle: Path, tmp_path: Path):
    path, model = encoder_file(blockwise, tmp_path)
    again, same = encoder_file(blockwise, tmp_path)
    assert path == again and model == same and path.parent == blockwise.cache_dir
    assert sha256_of(path) == sha256_of(edge_bundle / "encoder.onnx")
    assert list(tmp_path.iterdir()) == [], "a cached build writes nothing into the work folder"


def test_shipped_encoder_stays_an_option(tmp_path: Path):
    entries = stage(tmp_path, EncoderChoice("shipped"))
    assert entries["encoder"]["model"] == onnx_embed.model_id()
    assert sha256_of(tmp_path / "encoder.onnx") == sha256_of(onnx_embed.verified_model_file())
    assert sha256_of(tmp_path / "tokenizer.json") == sha256_of(model_path() / "tokenizer.json")
    assert np.isclose(
        Encoder(tmp_path / "encoder.onnx", tmp_path / "tokenizer.json").embed(["a small dog"]).sum(),
        onnx_embed.encode(["a small dog"]).sum(),
        atol=1e-4,
    )
