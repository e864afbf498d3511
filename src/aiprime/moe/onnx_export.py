"""The packaged fp32 MiniLM exported to ONNX, for bulk embedding at a fraction of the CPU time.

Training embeds a few hundred thousand short texts (glosses, questions, words) with fp32 MiniLM. Run through
sentence-transformers that is the largest part of a first `make run`'s training. The same weights exported
with `torch.onnx.export` and run by onnxruntime with `aiprime.moe.onnx_minilm`'s batching (length-sorted
batches of at most BATCH_TOKENS word pieces, one pass per core) give the same vectors (`MAX_DIFFERENCE`),
so they share the embedding cache's key with the torch path, which still embeds requests at serving time.

The file is exported once into the cache folder, named by what it depends on (`export_key`), and reused.
The edge bundle's encoder (`aiprime.edge.encoder`) starts from the same export.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiprime.moe import onnx_minilm
from aiprime.moe.embeddings import model_path

RECIPE = 1  # bump when export_fp32 changes what it writes: the file's name holds it
MAX_DIFFERENCE = 1e-4  # largest |torch - onnxruntime| per vector component tests allow (unit-norm vectors)


def export_key() -> str:
    """What the exported file depends on: the weights' sha256, the recipe, torch's and onnxruntime's versions."""
    digest = hashlib.sha256((model_path() / "model.safetensors").read_bytes()).hexdigest()
    recipe = f"{digest}:{RECIPE}:{version('torch')}:{version('onnxruntime')}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def fp32_file(cache_dir: Path) -> Path:
    """The fp32 ONNX export in `cache_dir`, exported there first if it is not yet (atomically)."""
    path = Path(cache_dir) / f"minilm-fp32-{export_key()}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".minilm-fp32-", dir=path.parent) as tmp:
            built = Path(tmp) / "fp32.onnx"
            export_fp32(built)
            os.replace(built, path)  # same folder: a concurrent export writes the same model
    return path


def encode_fp32(texts: list[str], cache_dir: Path) -> np.ndarray:
    """Unit-norm float32 embeddings (N, 384) of `texts` by the exported fp32 MiniLM, computed now (no cache)."""
    path = fp32_file(cache_dir)
    return onnx_minilm.encode(texts, lambda threads: onnx_minilm.file_session(path, threads))


def export_fp32(path: Path) -> None:
    """The packaged fp32 MiniLM (token ids, mask, type ids) -> last hidden state, dynamic batch and length."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path()), attn_implementation="eager").eval()
    ids = torch.ones(2, 8, dtype=torch.long)  # (B, T)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*onnx_minilm.INPUTS, onnx_minilm.HIDDEN)}
    with quiet(), torch.no_grad():
        torch.onnx.export(
            HiddenStates(model), (ids, ids, torch.zeros_like(ids)), str(path), dynamo=False,
            input_names=list(onnx_minilm.INPUTS), output_names=[onnx_minilm.HIDDEN], dynamic_axes=axes,
            opset_version=17,
        )  # fmt: skip


class HiddenStates(nn.Module):
    """A Hugging Face BERT as a function of its three inputs by position, returning the last hidden state."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state  # (B, T, 384)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' prints (the dynamo report of a failed trace), warnings and logs in a block."""
    import warnings

    level = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(level)
