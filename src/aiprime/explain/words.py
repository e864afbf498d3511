"""A text's words as model inputs: which of them are present, evaluated as the text with the others deleted.

The perturbation methods (Kernel SHAP, Shapley value sampling) attribute to words, not word pieces: a word
is the pieces the tokenizer split it into, so a gloss of 12 pieces is about 9 features. A coalition keeps
some words and deletes the rest, exactly as `measures.without` deletes them (the kept words' pieces in
order between `[CLS]` and `[SEP]`), so the rows are shorter than the text and cheaper to evaluate, and the
baseline, every word deleted, is the empty text `[CLS] [SEP]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aiprime.serving.text import TextClassifier

BATCH_ROWS = 128  # coalitions per forward pass: one pass for a usual budget, bounded memory for long texts
BASELINE = "[CLS] [SEP]: every word deleted"


@dataclass(frozen=True)
class TextWords:
    """A tokenized text grouped into words."""

    words: tuple[str, ...]  # each word's pieces joined (`##` dropped), as `attribution.join_word_pieces` does
    pieces: tuple[tuple[int, ...], ...]  # each word's token ids
    start_id: int  # [CLS]
    end_id: int  # [SEP]
    pad_id: int  # [PAD], hidden by the attention mask

    def __len__(self) -> int:
        return len(self.words)


def split_words(classifier: TextClassifier, text: str) -> TextWords:
    """`text` tokenized as the encoder does (truncation included) and grouped into words."""
    tokenizer = classifier.encoder.tokenizer
    ids = classifier.encoder.tokenize([text])["input_ids"][0].tolist()  # [CLS] ... [SEP]
    words: list[str] = []
    pieces: list[list[int]] = []
    for token, token_id in zip(tokenizer.convert_ids_to_tokens(ids[1:-1]), ids[1:-1], strict=True):
        if token.startswith("##") and words:
            words[-1] += token[2:]
            pieces[-1].append(token_id)
        else:
            words.append(token)
            pieces.append([token_id])
    return TextWords(tuple(words), tuple(tuple(p) for p in pieces), ids[0], ids[-1], tokenizer.pad_token_id)


def coalition_rows(words: TextWords, present: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of the texts that keep the `present` words: (S, n) -> (S, T), (S, T)."""
    rows = [
        [
            words.start_id,
            *(i for w, keep in zip(words.pieces, row, strict=True) if keep for i in w),
            words.end_id,
        ]
        for row in present
    ]
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), words.pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
    return ids, mask


@torch.no_grad()
def coalition_probabilities(
    classifier: TextClassifier, words: TextWords, present: np.ndarray, batch_rows: int = BATCH_ROWS
) -> np.ndarray:
    """Class probabilities of the text with only the `present` words kept: (S, n) booleans -> (S, C).

    Each distinct coalition is evaluated once; rows are sorted by length so a batch pads little.
    """
    unique, inverse = np.unique(np.asarray(present, dtype=bool), axis=0, return_inverse=True)
    order = np.argsort(unique.sum(axis=1))
    out = np.empty((len(unique), len(classifier.classes)), dtype=np.float64)
    for start in range(0, len(order), batch_rows):
        chosen = order[start : start + batch_rows]
        ids, mask = coalition_rows(words, unique[chosen])
        out[chosen] = classifier.probabilities_from_ids(ids, mask).numpy()
    return out[np.asarray(inverse).reshape(-1)]
