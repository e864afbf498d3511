"""The train/val/test split rule shared by every task: a hash of the key, so no list needs storing."""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
BUCKETS = 100  # first 8 bytes of the digest modulo this; buckets 0-79 train, 80-89 val, 90-99 test


def split_of(key: str) -> Split:
    """The split of `key` (e.g. a synset id): 80 % train, 10 % val, 10 % test, fixed forever by sha256.

    Args:
        key: A stable identifier; the same key always lands in the same split, on every machine.
    """
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % BUCKETS
    if bucket < 80:
        return "train"
    return "val" if bucket < 90 else "test"
