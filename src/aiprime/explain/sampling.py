"""Kernel SHAP over a text's word pieces, for when gradients are unavailable or do not add up.

Each feature is one word piece, present or replaced by `[MASK]` (`[CLS]`, `[SEP]` and the attention mask
stay), and the served function is only evaluated, never differentiated. Kernel SHAP fits its values with the
efficiency constraint, so they sum to f(x) - f(all masked) up to float error, which the completeness check
reports. Its model calls are batched: one forward pass over every sampled coalition.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from aiprime.explain.attribution import DEFAULT_TOLERANCE, Explanation, completeness, join_word_pieces
from aiprime.serving.text import TextClassifier

METHOD = "shap"
BASELINE = "[CLS] [MASK] ... [MASK] [SEP]: every word piece masked"


def masked_rows(input_ids: Tensor, present: np.ndarray, mask_id: int) -> Tensor:
    """Token ids for coalitions: (1, T) ids and (S, T-2) presence -> (S, T), special tokens kept at the ends."""
    inner = input_ids[0, 1:-1]  # (T-2,) the word pieces
    keep = torch.as_tensor(present, dtype=torch.bool)  # (S, T-2)
    rows = torch.where(keep, inner, torch.full_like(inner, mask_id))  # (S, T-2)
    ends = input_ids[:, [0, -1]].expand(len(rows), 2)  # (S, 2) [CLS], [SEP]
    return torch.cat([ends[:, :1], rows, ends[:, 1:]], dim=1)  # (S, T)


def shap_tokens(
    classifier: TextClassifier,
    text: str,
    target: int,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    nsamples: int = 200,
) -> Explanation:
    """Attribute the probability of class `target` for `text` to its word pieces with Kernel SHAP.

    Args:
        classifier: encoder and head; only evaluated, so the served instance may be shared.
        text: the input.
        target: the output index explained.
        tolerance: the |delta| accepted as complete.
        nsamples: coalitions evaluated (capped at the 2^n that exist).
    """
    import shap  # 5 s to import: only servers that explain with SHAP pay it

    tokenizer = classifier.encoder.tokenizer
    encoded = classifier.encoder.tokenize([text])
    ids, mask = encoded["input_ids"], encoded["attention_mask"]  # (1, T)
    n = ids.shape[1] - 2

    @torch.no_grad()
    def f(present: np.ndarray) -> np.ndarray:
        rows = masked_rows(ids, present, tokenizer.mask_token_id)  # (S, T)
        return classifier.probabilities_from_ids(rows, mask.expand(len(rows), -1)).numpy()  # (S, C)

    explainer = shap.KernelExplainer(f, np.zeros((1, n)))
    values = explainer.shap_values(
        np.ones((1, n)), nsamples=min(nsamples, 2**n + 2), l1_reg=False, silent=True
    )
    per_token = [0.0, *(float(v) for v in np.asarray(values)[0, :, target]), 0.0]  # specials: never masked
    f_x, f_b = float(f(np.ones((1, n)))[0, target]), float(f(np.zeros((1, n)))[0, target])
    delta, complete = completeness(per_token, f_x, f_b, tolerance)
    tokens = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    return Explanation(
        text=text, target=classifier.classes[target], target_index=target, method=METHOD,
        tokens=tuple(tokens), attributions=tuple(per_token),
        words=tuple(join_word_pieces(tokens, per_token, set(tokenizer.all_special_tokens))),
        prediction=f_x, baseline_prediction=f_b, baseline=BASELINE, delta=delta, tolerance=tolerance,
        complete=complete, evaluations=min(nsamples, 2**n + 2),
    )  # fmt: skip
