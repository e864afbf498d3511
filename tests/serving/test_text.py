"""The servers' encoder computes the embeddings the models were trained on, and explanations add up."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aiprime.explain.attribution import join_word_pieces
from aiprime.moe.embeddings import embed_texts
from aiprime.serving.text import TextEncoder

TEXTS = ["a dog", "a domestic animal that barks and is kept as a pet", "the act of running quickly"]


@pytest.mark.slow
def test_encoder_matches_the_training_embeddings(tmp_path) -> None:
    torch.set_num_threads(1)
    served = TextEncoder.load().embed(TEXTS).numpy()
    np.testing.assert_allclose(served, embed_texts(TEXTS, tmp_path), atol=1e-5)


def test_word_pieces_join_into_words_and_keep_the_sum() -> None:
    tokens = ["[CLS]", "a", "bark", "##s", "[SEP]"]
    words = join_word_pieces(tokens, [0.0, 0.1, 0.2, 0.3, 0.0], {"[CLS]", "[SEP]"})
    assert [(w.word, round(w.attribution, 6)) for w in words] == [("a", 0.1), ("barks", 0.5)]
