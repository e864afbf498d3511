"""Integrated gradients through MiniLM's word-embedding layer (Captum's LayerIntegratedGradients).

The function explained is the whole served path, text -> probability of one class: the word embeddings of
the tokens, the six transformer layers, mean pooling, normalisation and the head (gate or expert). The
baseline keeps `[CLS]`, `[SEP]` and the attention mask and replaces every other token with `[PAD]`, so the
attributions of the special tokens are zero and the words share f(x) - f(baseline) between them.

Integration uses 32 Gauss-Legendre nodes in one batched pass. The path from `[PAD]`s to the words is steep
where the prediction switches, and fewer nodes miss f(x) - f(baseline) badly (README "Explanations": the
share of test glosses within the tolerance per step count, `bench/explanations.py --ig-steps`). A caller
may allow more: when the sum misses by more than the tolerance the step count doubles, up to `max_steps`.
A function with jumps (an expert whose SwitchMoE router switches sub-expert along the path) can stay
incomplete at any step count: the answer then says `complete: false`.
"""

from __future__ import annotations

import torch
from captum.attr import LayerIntegratedGradients
from torch import Tensor

from aiprime.explain.attribution import (
    DEFAULT_TOLERANCE,
    Explanation,
    completeness,
    join_word_pieces,
)
from aiprime.serving.text import TextClassifier

METHOD = "integrated_gradients"
BASELINE = "[CLS] [PAD] ... [PAD] [SEP]: every word replaced by the padding token"


def baseline_ids(input_ids: Tensor, special_ids: set[int], pad_id: int) -> Tensor:
    """The reference input: special tokens kept, every other token replaced by `[PAD]`; (1, T) -> (1, T)."""
    keep = torch.tensor([[int(i) in special_ids for i in input_ids[0]]])
    return torch.where(keep, input_ids, torch.full_like(input_ids, pad_id))


def integrated_gradients(
    classifier: TextClassifier,
    text: str,
    target: int,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_steps: int = 32,
    max_steps: int = 32,
    internal_batch_size: int = 64,
) -> Explanation:
    """Attribute the probability of class `target` for `text` to its word pieces.

    Args:
        classifier: encoder and head; hooks are placed on its word-embedding layer while this runs, so pass
            a copy that no other thread uses (`TextClassifier.copy`).
        text: the input.
        target: the output index explained.
        tolerance: the |delta| accepted as complete.
        min_steps: integration steps of the first attempt.
        max_steps: the most steps tried before answering an incomplete explanation.
        internal_batch_size: interpolated inputs per forward pass.
    """
    tokenizer = classifier.encoder.tokenizer
    encoded = classifier.encoder.tokenize([text])
    ids, mask = encoded["input_ids"], encoded["attention_mask"]  # (1, T)
    reference = baseline_ids(ids, set(tokenizer.all_special_ids), tokenizer.pad_token_id)
    lig = LayerIntegratedGradients(classifier.probabilities_from_ids, classifier.encoder.word_embeddings)
    with torch.no_grad():
        f_x = float(classifier.probabilities_from_ids(ids, mask)[0, target])
        f_b = float(classifier.probabilities_from_ids(reference, mask)[0, target])
    steps = min_steps
    while True:
        attributions = lig.attribute(
            ids, baselines=reference, target=target, additional_forward_args=(mask,), n_steps=steps,
            method="gausslegendre", internal_batch_size=internal_batch_size,
        )  # fmt: skip  # (1, T, 384)
        per_token = attributions.sum(dim=-1)[0].detach().tolist()  # (T,)
        delta, complete = completeness(per_token, f_x, f_b, tolerance)
        if complete or steps * 2 > max_steps:
            break
        steps *= 2
    tokens = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    return Explanation(
        text=text, target=classifier.classes[target], target_index=target, method=METHOD,
        tokens=tuple(tokens), attributions=tuple(per_token),
        words=tuple(join_word_pieces(tokens, per_token, set(tokenizer.all_special_tokens))),
        prediction=f_x, baseline_prediction=f_b, baseline=BASELINE, delta=delta, tolerance=tolerance,
        complete=complete, evaluations=steps,
    )  # fmt: skip
