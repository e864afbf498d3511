"""KFP component `prepare_data`: the DVC-versioned classification splits and the gate's sense questions, embedded."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Output

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def prepare_data(
    repo_root: str,
    limit: int,
    embedding_cache: str,
    threads: int,
    train: Output[Dataset],
    val: Output[Dataset],
    test: Output[Dataset],
    train_questions: Output[Dataset],
    val_questions: Output[Dataset],
    questions: int,
    seed: int = 0,
) -> NamedTuple("Versions", [("data_version", str), ("questions_version", str)]):
    """Read `data/splits/classification.parquet` (checked against data/dvc.lock), embed it, write the splits;
    and the sense questions the gate also trains on (`aiprime.moe.dataset.sample_questions`).

    Args:
        repo_root: the AI Prime checkout holding `.dvc/` and `data/` (`/app` in the project image).
        limit: at most this many rows per (split, lexname); 0 keeps every row.
        embedding_cache: folder of the embedding cache; empty: `$AIPRIME_HOME/embeddings`.
        threads: torch threads for the embedding model; 0 keeps torch's default.
        questions: train sense questions, drawn with `seed` (val: a quarter as many); 0: none (the pipeline's
            default is `aiprime.moe.dataset.QUESTIONS`; none here, where the function's source runs alone).

    Returns:
        data_version: the DVC md5 of the classification table; questions_version: the questions' DVC md5s
        with the bounds and the seed ("" without questions).
    """
    from collections import namedtuple
    from pathlib import Path

    import torch

    from aiprime.moe.dataset import build_splits, sample_questions
    from aiprime.observability import progress
    from aiprime.settings import Settings

    if threads:
        torch.set_num_threads(threads)
    cache = Path(embedding_cache) if embedding_cache else Settings().home / "embeddings"
    with progress.reporting_to(progress.LineRelay()):  # the embedding's stages, for `aiprime run` to show
        splits, version = build_splits(Path(repo_root), cache, limit)
        asked, asked_version = sample_questions(Path(repo_root), cache, questions, seed)
    for name, artifact in (("train", train), ("val", val), ("test", test)):
        splits[name].save(Path(artifact.path))
        artifact.metadata.update({"rows": len(splits[name]), "data_version": version, "limit": limit})
    for name, artifact in (("train", train_questions), ("val", val_questions)):
        asked[name].save(Path(artifact.path))
        artifact.metadata.update({"rows": len(asked[name]), "questions_version": asked_version})
    return namedtuple("Versions", ["data_version", "questions_version"])(version, asked_version)
