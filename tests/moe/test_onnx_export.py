"""The fp32 ONNX export of MiniLM: the vectors sentence-transformers gives, exported once per cache folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiprime.moe import embeddings, onnx_export
from aiprime.moe.embeddings import EMBED_DIM, embed_texts, encode_texts

# short and long, one past MAX_TOKENS word pieces, so batches of different lengths and a truncation run
TEXTS = [
    "a dog",
    "a domesticated carnivorous mammal that typically has a long snout and an acute sense of smell",
    "sqlite3.connect(database, timeout=5.0) opens a connection to the SQLite database file",
    "feel happiness",
    " ".join(["the quick brown fox jumps over the lazy dog"] * 40),
] * 8


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder the export was made into once for this module."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    onnx_export.fp32_file(folder)
    return folder


@pytest.mark.slow
def test_export_gives_the_vectors_sentence_transformers_gives(cache: Path) -> None:
    exported = onnx_export.encode_fp32(TEXTS, cache)  # (40, 384)
    reference = encode_texts(TEXTS)  # (40, 384)
    assert exported.shape == (len(TEXTS), EMBED_DIM) and exported.dtype == np.float32
    assert np.abs(exported - reference).max() < onnx_export.MAX_DIFFERENCE
    assert np.abs(exported - reference).max() > 0  # another runtime: equal up to rounding, not the same call


@pytest.mark.slow
def test_export_is_made_once_per_cache_folder(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (path,) = cache.glob("minilm-fp32-*.onnx")
    assert path.name == f"minilm-fp32-{onnx_export.export_key()}.onnx"
    assert not list(cache.glob(".minilm-fp32-*"))  # the export's scratch folder is gone

    def no_export(path: Path) -> None:
        raise AssertionError("exported again although the cache folder holds the file")

    monkeypatch.setattr(onnx_export, "export_fp32", no_export)
    assert onnx_export.fp32_file(cache) == path


@pytest.mark.slow
def test_a_large_cache_miss_goes_through_the_export(cache: Path, tmp_path: Path, monkeypatch) -> None:
    def no_torch(texts, batch_size=64):
        raise AssertionError("sentence-transformers embedded a cache miss of BULK_TEXTS texts")

    monkeypatch.setattr(embeddings, "BULK_TEXTS", len(TEXTS))
    monkeypatch.setattr(embeddings, "encode_texts", no_torch)
    for name in cache.glob("minilm-fp32-*.onnx"):
        (tmp_path / name.name).symlink_to(name)  # the module's export, not a second one
    vectors = embed_texts(TEXTS, tmp_path)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(AssertionError, match="sentence-transformers"):
        embed_texts(TEXTS[:-1], tmp_path)  # one text fewer: a small miss, still torch's
