"""Train the image-text link on the training folds of the stamps and of the openclipart drawings, and register it
in MLflow as `aiprime-image-link`.

The registered folder holds `link.npz` (numpy only: serving needs no torch beyond the tower). Its tags name
the tower and the preprocessing hash (`preprocess_hash`), so a server can refuse a link trained on other
inputs, and the projection's training settings. Like every model it is a `challenger` first and becomes
`champion` only if it beats the champion on the same validation folds. Trained on both sets, one link does
as well as a link trained on either alone on that set's test folds (README "Images": stamps R@10 0.649 against
0.648, drawings 0.420 against 0.418), and a stamps-only link reaches 0.177 on the drawings.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.moe.embeddings import embed_texts
from aiprime.multimodal.clipart import Drawing
from aiprime.multimodal.evaluation import PairSet, fit_link, joined, retrieval_metrics, set_ranks
from aiprime.multimodal.image_tower import cached_tower_outputs, tower_id
from aiprime.multimodal.link import DEFAULT_PROJECTION, ImageTextLink, ProjectionConfig, config_tags
from aiprime.multimodal.preprocess import DEFAULT_CONFIG, config_hash
from aiprime.multimodal.stamps import Stamp, caption_fold, fold_roles

ROLE = "image-link"
EXPERIMENT = "aiprime-multimodal"
LINK_FILE = "link.npz"
REGISTERED_TEST_FOLD = 4  # the registered link trains on folds 1-3, picks its weight on 0, is tested on 4


@dataclass(frozen=True)
class StampPairs:
    """Every stamp with its tower outputs and caption embedding, and each stamp's fold."""

    pairs: PairSet
    folds: np.ndarray  # (N,) fold of each stamp

    def role(self, test_fold: int, role: str) -> PairSet:
        """The pairs that play `role` ("train", "val", "test") when `test_fold` is tested."""
        roles = fold_roles(test_fold)
        index = np.flatnonzero([roles[int(f)] == role for f in self.folds])
        p = self.pairs
        return PairSet(p.outputs[index], [p.captions[i] for i in index], p.caption_vectors[index])


def drawing_pairs(drawings: list[Drawing], cache_dir: Path) -> tuple[StampPairs, int]:
    """The drawings' tower outputs and caption embeddings (cached by content under `cache_dir`), with
    caption-disjoint folds like the stamps'; and how many drawings the upload checks refused (left out)."""
    outputs = cached_tower_outputs([d.image.read_bytes() for d in drawings], cache_dir, refused_as_nan=True)
    kept = np.flatnonzero(~np.isnan(outputs).any(axis=1))
    captions = [drawings[i].caption() for i in kept]
    pairs = PairSet(outputs[kept], captions, embed_texts(captions, cache_dir))
    folds = np.array([caption_fold(c) for c in captions], dtype=int)
    return StampPairs(pairs, folds), len(drawings) - len(kept)


def stamp_pairs(stamps: list[Stamp], cache_dir: Path) -> StampPairs:
    """Tower outputs and MiniLM caption embeddings of `stamps`, both cached by content under `cache_dir`."""
    outputs = cached_tower_outputs([s.image.read_bytes() for s in stamps], cache_dir)
    captions = [s.caption for s in stamps]
    pairs = PairSet(outputs, captions, embed_texts(captions, cache_dir))
    return StampPairs(pairs, np.array([s.fold for s in stamps]))


@dataclass(frozen=True)
class TrainedLink:
    """A fitted link and its scores on its own validation and test folds."""

    link: ImageTextLink
    metrics: dict[str, float]
    val: PairSet  # the validation fold, on which the champion is scored too
    config: ProjectionConfig


def train_link(
    data: StampPairs,
    synset_matrix: np.ndarray,
    test_fold: int = REGISTERED_TEST_FOLD,
    config: ProjectionConfig = DEFAULT_PROJECTION,
    drawings: StampPairs | None = None,
) -> TrainedLink:
    """Fit on the training folds (the stamps', and the drawings' when given), choose the floor's weight on the
    validation folds, score val, the stamps' test fold (`test/`) and the drawings' (`drawings_test/`)."""
    started = time.perf_counter()
    sets = [data] if drawings is None else [data, drawings]
    val = joined([s.role(test_fold, "val") for s in sets])
    link = fit_link(joined([s.role(test_fold, "train") for s in sets]), val, synset_matrix, config)
    metrics = {"train/seconds": time.perf_counter() - started, "floor_weight": link.floor_weight}
    scored = [("val", val), ("test", data.role(test_fold, "test"))]
    scored += [] if drawings is None else [("drawings_test", drawings.role(test_fold, "test"))]
    for role, pairs in (item for item in scored if item[1].captions):  # a fold with no pairs has no score
        ranks = set_ranks(link, pairs, synset_matrix)
        metrics |= {f"{role}/{name}": value for name, value in retrieval_metrics(ranks).items()}
    return TrainedLink(link, metrics, val, config)


def link_tags(config: ProjectionConfig = DEFAULT_PROJECTION) -> dict[str, str]:
    """The tags that pin what a link was trained on: role, tower, preprocessing hash, training settings."""
    return {"role": ROLE, "tower": tower_id(), "preprocess_hash": config_hash(DEFAULT_CONFIG)} | config_tags(
        config
    )


def register_link(
    tracking_uri: str, trained: TrainedLink, synset_matrix: np.ndarray, tags: dict[str, str] | None = None
):
    """Log a run to `aiprime-multimodal`, register `link.npz` as `aiprime-image-link`, promote on val MRR.

    The version's tags are `link_tags(trained.config)` and `tags` (e.g. the data version).

    Returns:
        The `Promotion` of the champion gate (the champion is scored on the same validation fold).
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from aiprime.registry import mlflow_registry as registry

    name, client = registry.registered_name(ROLE), MlflowClient(tracking_uri)
    tags = link_tags(trained.config) | (tags or {})
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment, run_name=ROLE, tags=tags)
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in trained.metrics.items()])
    before = _champion_val_mrr(tracking_uri, name, trained.val, synset_matrix)
    with tempfile.TemporaryDirectory() as folder:
        trained.link.save(Path(folder) / LINK_FILE)
        registry.register(tracking_uri, name, Path(folder), run.info.run_id, tags)
    client.set_terminated(run.info.run_id)
    return registry.promote(tracking_uri, name, trained.metrics["val/mrr"], before)


def load_link(tracking_uri: str, alias: str = "champion") -> ImageTextLink:
    """The registered link that carries `alias`.

    Raises:
        ModelNotReady: No version carries `alias` (train one first).
    """
    from aiprime.registry import mlflow_registry as registry

    with tempfile.TemporaryDirectory() as folder:
        path = registry.download(tracking_uri, registry.registered_name(ROLE), alias, Path(folder))
        return ImageTextLink.load(path / LINK_FILE)


def _champion_val_mrr(tracking_uri: str, name: str, val: PairSet, synset_matrix: np.ndarray) -> float | None:
    from aiprime.registry import mlflow_registry as registry

    if registry.version_for(tracking_uri, name, registry.CHAMPION) is None:
        return None
    return retrieval_metrics(set_ranks(load_link(tracking_uri), val, synset_matrix))["mrr"]
