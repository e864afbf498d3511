"""Heads adapted to the int8 encoder: each champion head distilled onto the embeddings the bundle feeds it.

The champions were trained on fp32 MiniLM embeddings (sentence-transformers); the bundle runs the int8 MiniLM,
whose embeddings differ a little, so a head fed them changes its top-1 answer on about 2% of the rows whatever
the heads' own quantisation. `distil_head` fine-tunes a copy of a head on train rows embedded by the int8
encoder to match the fp32 champion's temperature-softened outputs on the fp32 embeddings of the same rows
(KL divergence, Hinton et al. 2015, https://arxiv.org/abs/1503.02531). `adapt` keeps the copy only when its
top-1 agreement with the champion on the val rows improves.

The int8 embeddings of the train rows are cached by content like `aiprime.moe.embeddings` (the int8 model's id
in the key), so a second build reads them back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aiprime.moe.dataset import CHUNK
from aiprime.moe.embeddings import EMBED_DIM, cached_embeddings
from aiprime.rag import onnx_embed

TRAIN_LIMIT = 200  # train rows per lexname the heads are distilled on (about 9,000 of the full run's 94,066)


@dataclass(frozen=True)
class DistilConfig:
    """How a head is fine-tuned onto the int8 embeddings."""

    epochs: int = 8  # passes over the train rows
    lr: float = 3e-4  # AdamW learning rate: small, the copy starts at the champion
    lrs: tuple[float, ...] = (3e-4, 1e-4, 3e-5)  # `adapt` tries each and keeps the copy that agrees most
    temperature: float = 2.0  # softens both sides' logits in the KL
    batch_size: int = 128  # rows per step
    seed: int = 0  # of the row order


@dataclass(frozen=True)
class Paired:
    """The same rows embedded by the fp32 encoder (the champion's input) and by the int8 one (the bundle's)."""

    x_fp32: np.ndarray  # (N, 384) float32
    x_int8: np.ndarray  # (N, 384) float32

    def where(self, mask: np.ndarray) -> Paired:
        """The rows where `mask` is true."""
        return Paired(self.x_fp32[mask], self.x_int8[mask])


def int8_embeddings(
    texts: Sequence[str],
    cache_dir: Path,
    encode: Callable[[list[str]], np.ndarray],
    model: str | None = None,
) -> np.ndarray:
    """`encode(texts)` by the int8 encoder (N, 384), cached in chunks under `cache_dir` by content and by
    `model`, the encoder's id (default: the shipped int8 file's)."""
    texts, model = list(texts), model or onnx_embed.model_id()
    parts = [
        cached_embeddings(texts[i : i + CHUNK], cache_dir, model, encode) for i in range(0, len(texts), CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, EMBED_DIM), dtype=np.float32)


@torch.no_grad()
def logits_of(module: nn.Module, x: np.ndarray) -> torch.Tensor:
    """The module's logits (N, C) on rows (N, 384), in eval mode."""
    return module.eval()(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))).logits


def agreement(module: nn.Module, x: np.ndarray, want: torch.Tensor) -> float:
    """Share of rows whose top-1 class under `module` is `want` (N,)."""
    return float((logits_of(module, x).argmax(dim=1) == want).float().mean()) if len(x) else 1.0


def distil_head(teacher: nn.Module, train: Paired, config: DistilConfig = DistilConfig()) -> nn.Module:
    """A copy of `teacher` fine-tuned so that its outputs on `train.x_int8` match the teacher's on `train.x_fp32`.

    The copy stays in eval mode while it learns (no dropout; SwitchMoE routes as it serves).
    """
    t = config.temperature
    target = F.softmax(logits_of(teacher, train.x_fp32) / t, dim=1)  # (N, C)
    student = copy.deepcopy(teacher).eval()
    x = torch.as_tensor(np.ascontiguousarray(train.x_int8, dtype=np.float32))  # (N, 384)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    for _ in range(config.epochs):
        for rows in torch.randperm(len(x), generator=generator).split(config.batch_size):
            log_probs = F.log_softmax(student(x[rows]).logits / t, dim=1)  # (B, C)
            loss = F.kl_div(log_probs, target[rows], reduction="batchmean") * t * t
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return student.eval()


@dataclass(frozen=True)
class Adapted:
    """A head for the bundle and what its distillation measured on the val rows."""

    module: nn.Module  # the distilled copy when it agrees more, else the champion itself
    distilled: bool
    agreement_before: float  # val top-1 agreement of the champion fed int8 embeddings with itself fed fp32
    agreement_after: float  # the same for the distilled copy


def adapt(teacher: nn.Module, train: Paired, val: Paired, config: DistilConfig = DistilConfig()) -> Adapted:
    """Distil `teacher` on `train` at each of `config.lrs`; keep the copy whose val agreement with `teacher` is
    highest, only if it is higher than the teacher's own (fed int8 embeddings)."""
    want = logits_of(teacher, val.x_fp32).argmax(dim=1)  # (N,)
    before = agreement(teacher, val.x_int8, want)
    if len(train.x_fp32) == 0:
        return Adapted(teacher, False, before, before)
    students = [distil_head(teacher, train, replace(config, lr=lr)) for lr in config.lrs]
    after, student = max(((agreement(s, val.x_int8, want), s) for s in students), key=lambda pair: pair[0])
    return Adapted(student if after > before else teacher, after > before, before, after)
