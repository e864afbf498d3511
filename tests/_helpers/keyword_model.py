"""A text classifier whose answer depends on one known word: the real encoder under a one-direction head."""

from __future__ import annotations

import torch
from torch import nn

from aiprime.moe.networks import ModelOutput
from aiprime.serving.text import TextClassifier, TextEncoder

SNAKE = "a python is a large snake that kills its prey by squeezing it to death"
KNOWN = "python"


class KeywordHead(nn.Module):
    """Class 0 when an embedding is close to the known word's (the text names it), class 1 otherwise."""

    def __init__(self, direction: torch.Tensor, threshold: float, scale: float) -> None:
        super().__init__()
        self.direction, self.threshold, self.scale = direction, threshold, scale

    def forward(self, x: torch.Tensor) -> ModelOutput:
        score = self.scale * (x @ self.direction - self.threshold)  # (N,)
        return ModelOutput(torch.stack([score, -score], dim=1), torch.zeros(()))  # (N, 2)


def keyword_classifier() -> TextClassifier:
    """MiniLM under a head that answers "names-it" for `SNAKE` and "does-not" once `KNOWN` is deleted."""
    encoder = TextEncoder.load()
    direction, with_word, without_word = encoder.embed([KNOWN, SNAKE, SNAKE.replace(f"{KNOWN} ", "")])
    near, far = float(with_word @ direction), float(without_word @ direction)
    head = KeywordHead(direction, (near + far) / 2, 4 / (near - far))  # logits of about +-2 at either text
    return TextClassifier(encoder, head, ("names-it", "does-not"))
