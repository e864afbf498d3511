"""The image-text link, LiT style: both towers locked, images mapped into MiniLM's caption space.

Two maps, combined:
- the zero-shot floor (ConSE, Norouzi et al. 2014): the probability-weighted mean of the MiniLM embeddings of
  the image's top ImageNet synsets, each written "lemma: gloss" from WordNet; it needs no training pairs.
- a linear projection of the tower's pooled features, trained contrastively (symmetric InfoNCE) on real
  image-caption pairs of the training folds only.
The image vector is the unit-norm `weight * floor + (1 - weight) * projection`, `weight` chosen on validation.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aiprime.data.wordnet import lookup_synset
from aiprime.moe.embeddings import embed_texts
from aiprime.multimodal.image_tower import imagenet_synsets, split_outputs


@functools.cache
def synset_texts(wordnet_dir: Path) -> tuple[str, ...]:
    """ "lemma: gloss" of each ImageNet class's WordNet synset, in the tower's output order."""
    texts = []
    for synset in imagenet_synsets():
        entry = lookup_synset(wordnet_dir, synset)
        texts.append(f"{entry['lemmas'][0].replace('_', ' ')}: {entry['gloss']}")
    return tuple(texts)


def synset_vectors(wordnet_dir: Path, cache_dir: Path) -> np.ndarray:
    """MiniLM embeddings (1000, 384) of `synset_texts`, cached by content."""
    return embed_texts(list(synset_texts(wordnet_dir)), cache_dir)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def conse(probabilities: np.ndarray, synset_matrix: np.ndarray, top_k: int = 10) -> np.ndarray:
    """ConSE vectors (N, 384): each image's top-`top_k` synset embeddings weighted by their probability."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]  # (N, k)
    weights = np.take_along_axis(probabilities, top, axis=1)  # (N, k)
    return unit(np.einsum("nk,nkd->nd", weights, synset_matrix[top]))


@dataclass(frozen=True)
class ProjectionConfig:
    """Training of the contrastive projection; logged with the model."""

    epochs: int = 60  # passes over the training pairs
    learning_rate: float = 1e-3  # AdamW
    weight_decay: float = 0.05  # AdamW's decoupled decay
    temperature: float = 0.05  # InfoNCE softmax temperature
    batch_size: int = 128  # pairs per step (the other pairs of a batch are the negatives)
    seed: int = 0  # initialisation and batch order


DEFAULT_PROJECTION = ProjectionConfig()


@dataclass
class ImageTextLink:
    """The trained link: feature standardisation, the projection, the floor's weight; numpy only at serving."""

    mean: np.ndarray  # (1280,) feature means of the training images
    scale: np.ndarray  # (1280,) feature standard deviations
    weight: np.ndarray  # (1280, 384) projection
    floor_weight: float  # share of the ConSE floor in the combined vector, chosen on validation
    top_k: int = 10  # synsets per image in the floor

    def project(self, features: np.ndarray) -> np.ndarray:
        """Unit vectors (N, 384) of the projection alone."""
        return unit(((features - self.mean) / self.scale) @ self.weight)

    def embed(self, outputs: np.ndarray, synset_matrix: np.ndarray) -> np.ndarray:
        """Unit image vectors (N, 384) in MiniLM space from tower outputs (N, 2280)."""
        features, probabilities = split_outputs(outputs)
        floor = conse(probabilities, synset_matrix, self.top_k)
        return unit(self.floor_weight * floor + (1 - self.floor_weight) * self.project(features))

    def save(self, path: Path) -> None:
        """Write the link as one `.npz` file."""
        np.savez(path, mean=self.mean, scale=self.scale, weight=self.weight, floor_weight=self.floor_weight,
                 top_k=self.top_k)  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> ImageTextLink:
        """Read a link written by `save`."""
        with np.load(path) as stored:
            return cls(stored["mean"], stored["scale"], stored["weight"], float(stored["floor_weight"]),
                       int(stored["top_k"]))  # fmt: skip


def train_projection(
    features: np.ndarray, captions: np.ndarray, config: ProjectionConfig = DEFAULT_PROJECTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature mean, scale and a projection (1280, 384) trained with symmetric InfoNCE on pairs.

    Args:
        features: (N, 1280) pooled tower features of the training images.
        captions: (N, 384) unit MiniLM embeddings of their captions (the text tower stays locked).
        config: optimiser settings.
    """
    import torch

    generator = torch.Generator().manual_seed(config.seed)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = torch.from_numpy((features - mean) / scale).float()  # (N, 1280)
    y = torch.from_numpy(captions).float()  # (N, 384)
    weight = torch.nn.Parameter(torch.randn(x.shape[1], y.shape[1], generator=generator) * x.shape[1] ** -0.5)
    optimiser = torch.optim.AdamW([weight], lr=config.learning_rate, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        for batch in torch.randperm(len(x), generator=generator).split(config.batch_size):
            loss = _info_nce(x[batch] @ weight, y[batch], config.temperature)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return mean.astype(np.float32), scale.astype(np.float32), weight.detach().numpy().astype(np.float32)


def _info_nce(images, captions, temperature: float):
    import torch

    logits = torch.nn.functional.normalize(images, dim=1) @ captions.T / temperature  # (B, B)
    target = torch.arange(len(logits))
    return (
        torch.nn.functional.cross_entropy(logits, target)
        + torch.nn.functional.cross_entropy(logits.T, target)
    ) / 2


def config_tags(config: ProjectionConfig) -> dict[str, str]:
    """The projection's training settings as MLflow tags (`projection.<field>`)."""
    return {f"projection.{key}": str(value) for key, value in asdict(config).items()}
