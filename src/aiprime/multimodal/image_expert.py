"""The image expert: an image's domain from the tower's ImageNet classes (synset -> lexicographer class -> domain).

ImageNet's classes are WordNet noun synsets, so each class has a lexicographer class (`noun.animal`, ...) and,
through the reviewed table of `aiprime.data.domains`, one of the six domains. An image's domain scores are its
class probabilities summed per domain. To measure it, a caption's domain is that of the first (most frequent)
WordNet sense of the last noun it names ("A red fire truck." -> fire_truck -> noun.artifact -> artifacts).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from aiprime.data.domains import DOMAINS, domains_of
from aiprime.data.wordnet import lookup_synset
from aiprime.multimodal.image_tower import imagenet_synsets

MAX_NOUN_WORDS = 3  # longest compound looked up ("ice cream cone")
TOP_SYNSETS = 5  # ImageNet classes an image's answer lists


@functools.cache
def class_domains(wordnet_dir: Path) -> np.ndarray:
    """The domain index (into `DOMAINS`) of each ImageNet class, in the tower's output order (1000,)."""
    lexnames = pd.Series([lookup_synset(wordnet_dir, s)["lexname"] for s in imagenet_synsets()])
    return domains_of(lexnames).map(DOMAINS.index).to_numpy()


def domain_scores(probabilities: np.ndarray, wordnet_dir: Path) -> np.ndarray:
    """Each image's probability mass per domain (N, 6), from its class probabilities (N, 1000)."""
    scores = np.zeros((len(probabilities), len(DOMAINS)), dtype=np.float32)
    np.add.at(scores.T, class_domains(wordnet_dir), probabilities.T)
    return scores


def top_synsets(probabilities: np.ndarray, wordnet_dir: Path, k: int = TOP_SYNSETS) -> list[dict]:
    """One image's `k` most probable ImageNet classes (from its probabilities (1000,)), most probable first:
    each its synset id, lemmas, lexicographer class and probability."""
    synsets = imagenet_synsets()
    found = []
    for i in np.argsort(-probabilities, kind="stable")[:k]:
        entry = lookup_synset(wordnet_dir, synsets[i])
        found.append({"synset": synsets[i], "lemmas": entry["lemmas"], "lexname": entry["lexname"],
                      "probability": round(float(probabilities[i]), 6)})  # fmt: skip
    return found


def synset_words(synsets: list[dict]) -> str:
    """What an image shows, in words a text search understands: its most probable class's lemmas."""
    return ", ".join(synsets[0]["lemmas"])


@functools.cache
def first_noun_senses(wordnet_dir: Path) -> dict[str, str]:
    """Each noun lemma of WordNet's `index.noun` and the synset id of its first (most frequent) sense."""
    senses = {}
    with (wordnet_dir / "index.noun").open(encoding="utf-8", errors="replace") as index:
        for line in index:
            if line.startswith(" "):  # the licence header
                continue
            tokens = line.split()
            synset_count = int(tokens[2])
            senses[tokens[0]] = "n" + tokens[-synset_count]
    return senses


def caption_noun(caption: str, wordnet_dir: Path) -> str | None:
    """The last WordNet noun a caption names, preferring compounds ("A fire truck." -> "fire_truck")."""
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", caption.lower())
    senses = first_noun_senses(wordnet_dir)
    for end in range(len(words), 0, -1):
        for size in range(min(MAX_NOUN_WORDS, end), 0, -1):
            lemma = "_".join(words[end - size : end])
            if lemma in senses and lemma not in {"a", "an", "the"}:
                return lemma
    return None


def caption_domain(caption: str, wordnet_dir: Path) -> str | None:
    """The domain of a caption's last noun's first sense, or None when it names no WordNet noun."""
    noun = caption_noun(caption, wordnet_dir)
    if noun is None:
        return None
    lexname = lookup_synset(wordnet_dir, first_noun_senses(wordnet_dir)[noun])["lexname"]
    return str(domains_of(pd.Series([lexname])).iloc[0])
