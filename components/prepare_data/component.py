"""KFP component `prepare_data`: the DVC-versioned classification splits, embedded, as three datasets."""

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
) -> str:
    """Read `data/splits/classification.parquet` (checked against data/dvc.lock), embed it, write the splits.

    Args:
        repo_root: the AI Prime checkout holding `.dvc/` and `data/` (`/app` in the project image).
        limit: at most this many rows per (split, lexname); 0 keeps every row.
        embedding_cache: folder of the embedding cache; empty: `$AIPRIME_HOME/embeddings`.
        threads: torch threads for the embedding model; 0 keeps torch's default.

    Returns:
        The data version: the DVC md5 of the classification table.
    """
    from pathlib import Path

    import torch

    from aiprime.moe.dataset import build_splits
    from aiprime.settings import Settings

    if threads:
        torch.set_num_threads(threads)
    cache = Path(embedding_cache) if embedding_cache else Settings().home / "embeddings"
    splits, version = build_splits(Path(repo_root), cache, limit)
    for name, artifact in (("train", train), ("val", val), ("test", test)):
        splits[name].save(Path(artifact.path))
        artifact.metadata.update({"rows": len(splits[name]), "data_version": version, "limit": limit})
    return version
