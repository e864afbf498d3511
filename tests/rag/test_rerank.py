"""The cross-encoder re-ranker: re-ranking, training on mined negatives, saving, MLflow and evaluation."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from aiprime.errors import DataCorrupt, InvalidInput, ModelNotReady, NotFound
from aiprime.rag import fusion, store
from aiprime.rag.evaluate import QUALITY_METRICS, RERANK_METHOD, evaluate_quality, sample_queries
from aiprime.rag.ingest import ingest
from aiprime.rag.rerank import (
    CALIBRATION_FILE,
    Reranker,
    RerankerConfig,
    load_reranker,
    new_reranker,
    rerank,
    resolve_reranker,
    save_calibration,
    save_reranker,
)
from aiprime.rag.rerank_train import (
    Candidates,
    RerankerTrainConfig,
    Senses,
    Trained,
    blended_mrr,
    choose_blend,
    fit,
    group_loss,
    mine,
    probabilities_of,
    register_reranker,
    reranked_mrr,
    training_groups,
)
from aiprime.rag.search import Hit

SMALL = RerankerConfig(max_len=48, layers=2)  # MiniLM's two lowest layers: fast enough for tests
QUESTION = 'What does "bank" mean in "we sat on the bank of the river"?'
TEXTS = (
    "bank\nsloping land (especially the slope beside a body of water)",
    "bank, depository financial institution\na financial institution that accepts deposits",
    "cat, true cat\nfeline mammal usually having thick soft fur",
)


def fresh_reranker(seed: int = 0) -> Reranker:
    """A re-ranker from the MiniLM weights with a head drawn from `seed`."""
    torch.manual_seed(seed)
    return new_reranker(SMALL)


@pytest.fixture(scope="module")
def untrained() -> Reranker:
    """One untrained re-ranker shared by the tests that only score."""
    return fresh_reranker()


@pytest.fixture(scope="module")
def tiny_collection(engine, tiny_corpus, embedder) -> str:
    """The tiny corpus ingested with the bag-of-words embedder into a collection of this module's own."""
    collection = f"test-rerank-{uuid.uuid4().hex[:8]}"
    ingest(engine, tiny_corpus, embedder, collection=collection)
    store.ensure_hnsw_index(engine)
    return collection


@pytest.fixture(scope="module")
def mined(engine, embedder, tiny_splits, tiny_collection) -> dict[str, list[Candidates]]:
    """Hybrid candidates of 24 train and all val questions of the tiny corpus, fused by plain RRF.

    The sense questions' served fusion leans on dense (MiniLM's); the tests' bag-of-words embedder is a toy.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(fusion.FUSIONS, "sense", fusion.DEFAULT)
        return {
            split: mine(engine, embedder, sample_queries(tiny_splits, n, 0, split), 10, tiny_collection)
            for split, n in (("train", 24), ("val", 10))
        }


def hits(texts=TEXTS) -> list[Hit]:
    """Hits in retrieval order, with retrieval scores that the re-ranker must replace."""
    return [
        Hit(100 + i, f"wn:{i}", 0, t.split("\n")[0], t, "wordnet", "living", 10.0 - i)
        for i, t in enumerate(texts)
    ]


def test_rerank_orders_the_given_hits_by_probability(untrained) -> None:
    ranked = rerank(QUESTION, hits(), untrained, top_n=2)

    expected = untrained.score(QUESTION, list(TEXTS))
    assert len(ranked) == 2
    assert {h.chunk_id for h in ranked} <= {100, 101, 102}
    assert [h.chunk_id for h in ranked] == [100 + i for i in np.argsort(-expected)[:2]]
    assert [h.score for h in ranked] == pytest.approx(sorted(expected, reverse=True)[:2])
    assert all(0.0 < h.score < 1.0 for h in ranked)


def test_a_kind_whose_share_is_zero_keeps_the_retrieval_order_and_a_share_mixes_both(untrained) -> None:
    probabilities = untrained.score(QUESTION, list(TEXTS))
    kept = rerank(QUESTION, hits(), replace(untrained, blend={"sense": 0.0}), top_n=3)
    mixed = rerank(QUESTION, hits(), replace(untrained, blend={"sense": 0.5, "code": 0.0}), top_n=3)

    assert [h.chunk_id for h in kept] == [100, 101, 102]  # retrieval scores 10, 9, 8: the fused order
    # scored by their probabilities, not the scaled retrieval score that gives the first 1.0 whatever it is
    assert [h.score for h in kept] == pytest.approx(probabilities[:3])
    expected = 0.5 * probabilities + 0.5 * np.array([1.0, 0.5, 0.0])
    assert sorted(h.score for h in mixed) == pytest.approx(sorted(expected))
    assert [h.chunk_id for h in mixed] == [100 + i for i in np.argsort(-expected, kind="stable")]


def test_the_blend_chosen_on_val_never_ranks_worse_than_the_fused_order(untrained, mined) -> None:
    val = mined["val"]
    scored = [untrained.score(found.question, found.contents) for found in val]
    blend = choose_blend(val, scored)  # an untrained head: re-ranking alone is near chance

    assert set(blend) == {"sense"} and 0.0 <= blend["sense"] <= 1.0
    assert blended_mrr(replace(untrained, blend=blend), val) >= reranked_mrr(None, val)
    assert blended_mrr(replace(untrained, blend={"sense": 0.0}), val) == reranked_mrr(None, val)


def test_scores_do_not_depend_on_the_other_candidates_in_the_batch(untrained) -> None:
    alone = untrained.score(QUESTION, [TEXTS[0]])
    together = untrained.score(QUESTION, [TEXTS[0], TEXTS[1] * 5])  # padding to a longer pair

    assert alone[0] == pytest.approx(together[0], abs=1e-5)


@pytest.mark.parametrize(
    ("candidates", "top_n", "message"), [([], 5, "No hits to re-rank"), (hits(), 0, "top_n=0")]
)
def test_rerank_refuses_no_hits_or_top_n_below_one(untrained, candidates, top_n, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        rerank(QUESTION, candidates, untrained, top_n)


def test_groups_hold_the_positive_first_then_hybrid_and_sense_negatives(tmp_path: Path) -> None:
    import pandas as pd

    docs = pd.DataFrame(
        {
            "doc_id": ["wn:1", "wn:2", "wn:3", "wn:4", "foldoc:x"],
            "source": ["wordnet"] * 4 + ["foldoc"],
            "title": ["bank", "bank, depository", "cat", "bank, cant", "x"],
            "text": ["river side ", "money", "feline", "tilt", "a term"],
        }
    )
    docs.to_parquet(tmp_path / "documents.parquet")
    senses = Senses.from_splits(tmp_path)
    found = Candidates(
        "q", "wn:1", ("wn:3", "wn:1", "foldoc:x"), ("cat\nfeline", "bank\nriver side", "x\na term")
    )

    (group,) = training_groups([found], senses, RerankerTrainConfig(negatives=3, sense_negatives=1))

    assert group.texts[0] == "bank\nriver side"
    assert set(group.texts[1:3]) == {"cat\nfeline", "x\na term"}  # every hybrid hit but the positive
    assert group.texts[3] in {"bank, depository\nmoney", "bank, cant\ntilt"}  # another sense of "bank"


def test_a_target_outside_wordnet_is_the_positive_through_its_retrieved_chunk(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"doc_id": ["wn:1"], "source": ["wordnet"], "title": ["a"], "text": ["b"]}).to_parquet(
        tmp_path / "documents.parquet"
    )
    found = Candidates(
        "os.path.join",
        "pydoc:os.path",
        ("wn:1", "pydoc:os.path", "pydoc:os"),
        ("a\nb", "os.path\njoin one or more path segments", "os\nmiscellaneous interfaces"),
    )

    (group,) = training_groups([found], Senses.from_splits(tmp_path), RerankerTrainConfig(negatives=2))

    assert group.texts == ("os.path\njoin one or more path segments", "a\nb", "os\nmiscellaneous interfaces")


def test_a_question_without_enough_negatives_is_refused_with_the_fix(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"doc_id": ["wn:1"], "source": ["wordnet"], "title": ["a"], "text": ["b"]}).to_parquet(
        tmp_path / "documents.parquet"
    )

    with pytest.raises(InvalidInput, match="lower --negatives"):
        training_groups(
            [Candidates("q", "wn:1", ("wn:1",), ("a\nb",))],
            Senses.from_splits(tmp_path),
            RerankerTrainConfig(),
        )


def test_mined_candidates_are_hybrid_chunks_of_the_collection(mined) -> None:
    assert all(0 < len(found.contents) <= 10 for found in mined["train"])
    assert all(found.doc_ids[0].split(":")[0] in ("wn", "foldoc", "pydoc") for found in mined["train"])
    assert sum(found.relevant in found.doc_ids for found in mined["train"]) > len(mined["train"]) / 2


def test_fitting_lowers_the_loss_on_the_mined_groups(mined, tiny_splits) -> None:
    config = RerankerTrainConfig(
        negatives=3, sense_negatives=1, epochs=2, batch_queries=4, lr=3e-4, warmup=0.0, frozen_layers=1
    )
    groups = training_groups(mined["train"], Senses.from_splits(tiny_splits), config)
    reranker = fresh_reranker()
    reranker.module.eval()
    with torch.no_grad():
        before = float(group_loss(reranker, groups, 1.0))

    history, probabilities = fit(reranker, groups, mined["val"], config)

    with torch.no_grad():
        after = float(group_loss(reranker, groups, 1.0))
    assert len(groups) >= 16
    assert after < 0.8 * before, (before, after, history)
    assert [row["epoch"] for row in history] == [1.0, 2.0]
    assert all(0.0 <= row["val_mrr"] <= 1.0 for row in history)
    # the kept epoch's val scores come back, so the blend is chosen without scoring val again
    assert len(probabilities) == len(mined["val"])
    for found, scores in zip(mined["val"], probabilities, strict=True):
        np.testing.assert_allclose(scores, probabilities_of(reranker, found), atol=1e-6)


def test_a_saved_reranker_loads_with_the_same_scores(untrained, tmp_path: Path) -> None:
    save_reranker(untrained, tmp_path / "rr", {"note": "test"})

    loaded = load_reranker(tmp_path / "rr")
    blended = load_reranker(save_reranker(replace(untrained, blend={"code": 0.2}), tmp_path / "blended"))

    assert loaded.module.config == SMALL and loaded.blend == {} and blended.blend == {"code": 0.2}
    np.testing.assert_allclose(loaded.score(QUESTION, TEXTS), untrained.score(QUESTION, TEXTS), atol=1e-6)


def test_a_folder_without_a_reranker_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="train-reranker"):
        load_reranker(tmp_path)


def test_no_reranker_when_asked_for_none_or_when_mlflow_does_not_answer() -> None:
    assert resolve_reranker("none", "http://127.0.0.1:9") is None
    assert resolve_reranker("champion", "http://127.0.0.1:9") is None


def test_registered_reranker_becomes_champion_and_a_worse_one_does_not(
    untrained, mined, fresh_mlflow_url, tmp_path: Path
) -> None:
    folder = save_reranker(untrained, tmp_path / "v1")
    first = Trained(untrained, folder, mined["val"], {"val/blended_mrr": 0.9, "val/hybrid_mrr": 0.5})
    worse = Trained(untrained, folder, mined["val"], {"val/blended_mrr": 0.0, "val/hybrid_mrr": 0.5})

    promoted = register_reranker(fresh_mlflow_url, first, {"max_len": 48})
    kept = register_reranker(fresh_mlflow_url, worse, {"max_len": 48})
    champion = load_reranker(fresh_mlflow_url)

    assert promoted.promoted and promoted.champion_before is None
    assert not kept.promoted and kept.champion_before == promoted.challenger
    assert kept.champion_score == pytest.approx(
        reranked_mrr(untrained, mined["val"])
    )  # scored on the same val
    np.testing.assert_allclose(champion.score(QUESTION, TEXTS), untrained.score(QUESTION, TEXTS), atol=1e-6)


def test_a_calibrated_folder_loads_with_its_min_score_and_a_bad_file_says_the_fix(
    untrained, tmp_path
) -> None:
    folder = save_reranker(untrained, tmp_path / "rr")
    assert load_reranker(folder).min_score is None

    save_calibration(folder, {"min_score": 0.625, "calibration/questions": 200.0})
    assert load_reranker(folder).min_score == 0.625

    save_calibration(folder, {"min_score": 0.625, "min_score/code": 0.25, "calibration/code/questions": 9.0})
    per_kind = load_reranker(folder)
    assert per_kind.thresholds() == {"sense": 0.625, "definition": 0.625, "keyword": 0.625, "code": 0.25}
    assert not per_kind.calibrated_per_kind()  # definition and keyword still take sense's

    (folder / CALIBRATION_FILE).write_text('{"threshold": 1}')
    with pytest.raises(DataCorrupt, match="aiprime rag calibrate"):
        load_reranker(folder)
    with pytest.raises(InvalidInput, match="finite 'min_score'"):
        save_calibration(folder, {"min_score": float("nan")})


def test_a_calibration_is_tagged_on_the_registered_version(untrained, mined, mlflow_url, tmp_path) -> None:
    folder = save_reranker(untrained, tmp_path / "tagged")
    register_reranker(mlflow_url, Trained(untrained, folder, mined["val"], {"val/blended_mrr": 0.1}), {})

    where = save_calibration(mlflow_url, {"min_score": 0.25}, alias="challenger")

    assert where.startswith("aiprime-reranker v") and where.endswith("(challenger)")
    assert load_reranker(mlflow_url, alias="challenger").min_score == 0.25
    kinds = {
        "min_score": 0.25,
        "min_score/definition": 0.5,
        "min_score/keyword": 0.75,
        "min_score/code": 0.125,
    }
    save_calibration(mlflow_url, kinds, alias="challenger")
    tagged = load_reranker(mlflow_url, alias="challenger")
    assert tagged.calibrated_per_kind()
    assert tagged.thresholds() == {"sense": 0.25, "definition": 0.5, "keyword": 0.75, "code": 0.125}
    with pytest.raises(ModelNotReady, match="train-reranker"):
        save_calibration(mlflow_url, {"min_score": 0.25}, alias="nobody")


def test_evaluation_reports_hybrid_plus_rerank_and_its_latency(
    engine, embedder, tiny_splits, tiny_collection, untrained
) -> None:
    queries = sample_queries(tiny_splits, 12, 0)
    vectors = embedder.embed(list(queries.question))

    result = evaluate_quality(
        engine, queries, vectors, collection=tiny_collection, reranker=untrained, rerank_depth=5
    )

    assert all(0.0 <= result[f"{RERANK_METHOD}/{metric}"] <= 1.0 for metric in QUALITY_METRICS)
    # Re-ordering hybrid's top 5 keeps its recall@5 documents: recall@10 can only drop to what the top 5 held.
    assert result[f"{RERANK_METHOD}/recall_at_10"] <= result["hybrid/recall_at_10"]
    assert 0.0 < result["rerank/p50_ms"] <= result["rerank/p95_ms"]
    assert result["rerank/candidates"] == 5.0


def test_train_reranker_command_saves_a_loadable_reranker(
    pg_server_url, tiny_splits, tiny_collection, embedder, tmp_path: Path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from aiprime.cli import app
    from aiprime.cli import rag as rag_cli

    monkeypatch.setenv("AIPRIME_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(rag_cli, "make_embedder", lambda settings: embedder)
    args = ["rag", "train-reranker", "--splits", str(tiny_splits), "--collection", tiny_collection,
            "--out", str(tmp_path / "rr"), "--train-queries", "8", "--val-queries", "4", "--depth", "5",
            "--negatives", "2", "--sense-negatives", "1", "--batch-queries", "4", "--layers", "1",
            "--frozen-layers", "0", "--max-len", "32", "--no-register"]  # fmt: skip

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "val MRR@10, hybrid + re-rank" in result.output
    assert load_reranker(tmp_path / "rr").module.config == RerankerConfig(max_len=32, layers=1)
