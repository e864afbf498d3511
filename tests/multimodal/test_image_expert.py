"""The image expert's domains, from ImageNet classes and from captions, on the real WordNet of wordnet-base."""

from __future__ import annotations

import numpy as np
import pytest

from aiprime.data.domains import DOMAINS
from aiprime.multimodal.image_expert import caption_domain, caption_noun, class_domains, domain_scores
from aiprime.multimodal.image_tower import NUM_CLASSES, imagenet_synsets
from aiprime.settings import Settings

WORDNET = Settings().wordnet_dir
pytestmark = pytest.mark.skipif(not (WORDNET / "index.noun").is_file(), reason="needs wordnet-base")


@pytest.mark.parametrize(
    ("caption", "noun", "domain"),
    [("A red fire truck.", "fire_truck", "artifacts"), ("A frog.", "frog", "living"),
     ("Grandma's old rag doll.", "rag_doll", "artifacts"), ("Xyzzy!", None, None)],
)  # fmt: skip
def test_caption_names_its_last_noun_and_that_nouns_domain(caption, noun, domain):
    assert caption_noun(caption, WORDNET) == noun
    assert caption_domain(caption, WORDNET) == domain


def test_each_class_has_a_domain_and_probability_mass_is_summed_per_domain():
    domains = class_domains(WORDNET)
    assert domains.shape == (NUM_CLASSES,)
    tench = imagenet_synsets().index("n01440764")
    assert DOMAINS[domains[tench]] == "living"
    probabilities = np.full((2, NUM_CLASSES), 1 / NUM_CLASSES, dtype=np.float32)
    scores = domain_scores(probabilities, WORDNET)
    assert scores.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    assert scores[0, domains[tench]] == pytest.approx(np.mean(domains == domains[tench]), abs=1e-5)
