"""A subset checkout ready for the model asset: its data reproduced, the pipelines and components linked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiprime import versioning

REPO = Path(__file__).resolve().parents[2]


def model_checkout(subset_checkout: Callable[[Path, int], Path], at: Path, limit: int) -> Path:
    """`subset_checkout(at, limit)` with `data/` reproduced and `components/`, `pipelines/` linked to the repo's."""
    root = subset_checkout(at, limit=limit)
    versioning.reproduce(root)
    for folder in ("components", "pipelines"):
        (root / folder).symlink_to(REPO / folder)
    return root
