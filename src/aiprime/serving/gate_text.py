"""The gate's text-in forward: a text and its word, both embedded by MiniLM, into the gate.

The gate reads the embedding of the text and the embedding of its word side by side (`GateNet.inputs` in
`aiprime.moe.networks`): the quoted word of a sense question (`What does "<word>" mean in "..."?`,
`aiprime.data.questions.word_of`), or the text itself. `GateClassifier` is a `TextClassifier` whose every
forward does that: from texts (`features`, `predict_texts`) and, differentiably, from token ids
(`probabilities_from_ids`, what the explainers call). From ids, the word is the tokens between the quotes after
`what does`, embedded alone as MiniLM embeds the word by itself ([CLS] word [SEP], positions from 0), from the
same call of the word-embedding layer as the text: attribution hooks on that layer see both paths.
A gate of one input (trained before words) gets the text's embedding alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aiprime.data.questions import quoted_word
from aiprime.errors import InvalidInput
from aiprime.moe.embeddings import EMBED_DIM
from aiprime.serving.text import TextClassifier

QUESTION_PREFIX = 'what does "'  # the tokens that open a sense question, before its word


def pooled(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean of the unmasked token states, unit norm: (N, T, 384), (N, T) -> (N, 384), as MiniLM pools."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (N, T, 1)
    return F.normalize((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9), p=2, dim=-1)


@dataclass(frozen=True)
class GateClassifier(TextClassifier):
    """The gate behind the encoder: text -> (text, word) embeddings -> domain probabilities."""

    @property
    def reads_words(self) -> bool:
        """Whether the gate reads a word's embedding beside the text's."""
        return getattr(self.head.config, "n_inputs", 1) > 1

    @torch.no_grad()
    def features(self, texts: Sequence[str]) -> Tensor:
        """The gate's input rows: (N, 768) the texts' embeddings then their words', or (N, 384) for a one-input
        gate."""
        x = self.encoder.embed(texts)  # (N, 384)
        if not self.reads_words:
            return x
        words = x.clone()  # a text without a quoted word is its own word
        asked = [i for i, text in enumerate(texts) if quoted_word(text) is not None]
        if asked:
            words[asked] = self.encoder.embed([quoted_word(texts[i]) for i in asked])
        return torch.cat([x, words], dim=1)  # (N, 768)

    @torch.no_grad()
    def probabilities(self, embedded: Tensor) -> np.ndarray:
        """Softmax over domains for gate input rows (N, 768), or text embeddings (N, 384) as their own words."""
        widths = (EMBED_DIM, EMBED_DIM * getattr(self.head.config, "n_inputs", 1))
        if embedded.ndim != 2 or embedded.shape[1] not in widths:
            raise InvalidInput(f"Gate inputs must have shape (N, {widths[-1]}); got {tuple(embedded.shape)}.")
        return (self.head(embedded).logits / self.temperature).softmax(dim=-1).numpy()  # (N, D)

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over domains for texts, each read with its word: (N, D)."""
        return self.probabilities(self.features(texts))

    def probabilities_from_ids(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Differentiable softmax over domains from token ids, each row read with its word: (N, T) -> (N, D)."""
        tokens = self.encoder.word_embeddings(input_ids)  # (N, T, 384): the one call that hooks see
        x = self.embed_tokens(tokens, attention_mask)  # (N, 384)
        if self.reads_words:
            index, mask, asked = self.word_positions(input_ids, attention_mask)  # (N, K), (N, K), (N,)
            word = tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))  # (N, K, 384)
            words = torch.where(asked.unsqueeze(-1), self.embed_tokens(word, mask), x)  # (N, 384)
            x = torch.cat([x, words], dim=1)  # (N, 768)
        return (self.head(x).logits / self.temperature).softmax(dim=-1)

    def embed_tokens(self, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        """The sentence embedding of token embeddings (N, T, 384), as `TextEncoder.embed_ids` computes it."""
        hidden = self.encoder.transformer(
            inputs_embeds=tokens, attention_mask=attention_mask
        ).last_hidden_state
        return pooled(hidden, attention_mask)

    def word_positions(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For each row, the positions of [CLS], its quoted word's tokens and [SEP] (padded, with their mask),
        and whether it asks about a word: (N, K) long, (N, K) long, (N,) bool."""
        prefix = self.encoder.tokenizer(QUESTION_PREFIX, add_special_tokens=False)["input_ids"]
        start, quote = 1 + len(prefix), prefix[-1]
        rows = []
        for ids, length in zip(input_ids.tolist(), attention_mask.sum(dim=1).tolist(), strict=True):
            asks = ids[1:start] == prefix and quote in ids[start : length - 1]
            span = range(start, ids.index(quote, start)) if asks else range(0)
            rows.append([0, *span, length - 1])  # [CLS] word [SEP]
        width = max(len(row) for row in rows)
        index = torch.tensor([row + [0] * (width - len(row)) for row in rows])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
        return index, mask, torch.tensor([len(row) > 2 for row in rows])

    def copy(self) -> GateClassifier:
        """An independent copy of encoder and head, for work that hooks into the modules."""
        return GateClassifier(self.encoder.copy(), copy.deepcopy(self.head), self.classes, self.temperature)
