"""The gate's text-in forward: each text read with its word, the same from texts and from token ids."""

from __future__ import annotations

import pytest
import torch

from aiprime.moe.networks import GateConfig, GateNet
from aiprime.serving.gate_text import GateClassifier
from aiprime.serving.text import TextEncoder

QUESTION = 'What does "courting" mean in "we were courting for over ten years"?'
PLAIN = "a domesticated carnivorous mammal"
CLASSES = ("a", "b", "c")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load()


def gate(encoder: TextEncoder, n_inputs: int = 2) -> GateClassifier:
    torch.manual_seed(0)
    head = GateNet(GateConfig(n_inputs=n_inputs, d_hidden=0, n_domains=3, dropout=0.0)).eval()
    return GateClassifier(encoder, head, CLASSES, temperature=0.5)


def test_a_question_is_read_with_its_quoted_word_and_a_plain_text_as_its_own_word(
    encoder: TextEncoder,
) -> None:
    features = gate(encoder).features([QUESTION, PLAIN])  # (2, 768)
    word, plain = encoder.embed(["courting", PLAIN])
    torch.testing.assert_close(features[0, 384:], word, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(features[1, 384:], plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(features[1, :384], plain, atol=1e-5, rtol=1e-5)


def test_the_forward_from_token_ids_is_the_forward_from_texts(encoder: TextEncoder) -> None:
    classifier = gate(encoder)
    encoded = encoder.tokenize([QUESTION, PLAIN])
    from_ids = classifier.probabilities_from_ids(encoded["input_ids"], encoded["attention_mask"])
    torch.testing.assert_close(
        from_ids.detach(), torch.from_numpy(classifier.predict_texts([QUESTION, PLAIN])), atol=1e-5, rtol=1e-4
    )


def test_masking_the_quoted_word_changes_what_the_gate_reads(encoder: TextEncoder) -> None:
    classifier = gate(encoder)
    ids = encoder.tokenize([QUESTION])["input_ids"]
    mask = torch.ones_like(ids)
    masked = ids.clone()
    masked[0, 4:6] = encoder.tokenizer.mask_token_id  # "court", "##ing"
    index, _, asked = classifier.word_positions(torch.cat([ids, masked]), torch.cat([mask, mask]))
    assert asked.tolist() == [True, True] and index[0].tolist() == [0, 4, 5, len(ids[0]) - 1]
    both = classifier.probabilities_from_ids(torch.cat([ids, masked]), torch.cat([mask, mask])).detach()
    assert not torch.allclose(both[0], both[1])


def test_a_gate_of_one_input_reads_the_text_alone(encoder: TextEncoder) -> None:
    classifier = gate(encoder, n_inputs=1)
    assert classifier.features([QUESTION]).shape == (1, 384)
    encoded = encoder.tokenize([QUESTION])
    from_ids = classifier.probabilities_from_ids(encoded["input_ids"], encoded["attention_mask"]).detach()
    torch.testing.assert_close(
        from_ids, torch.from_numpy(classifier.predict_texts([QUESTION])), atol=1e-5, rtol=1e-4
    )
    assert isinstance(classifier.copy(), GateClassifier)
