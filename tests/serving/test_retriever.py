"""The retriever server's library: parsing both request shapes, answering per question with the route's
domain preferred, the collection check behind its readiness, and the re-ranker hook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _helpers import free_port
from _helpers.bow_embedder import bow_embedder
from sqlalchemy.engine import Engine

from aiprime.db.engine import connect
from aiprime.errors import ConfigError, InvalidInput, NotFound
from aiprime.rag.corpus import Document
from aiprime.rag.embed import Embedder
from aiprime.rag.ingest import ingest
from aiprime.rag.rerank import new_reranker, save_calibration, save_reranker
from aiprime.serving.retriever import Question, Retriever, check_collection, load_rerank, parse_request

# Two senses of "bat" in two domains, and neighbours: which sense leads depends on the route.
DOCS = [
    Document(
        "wn:bat.n.01", "wordnet", "living", "bat", "bat: nocturnal mouselike mammal that flies at night"
    ),
    Document("wn:bat.n.05", "wordnet", "artifacts", "bat", "bat: a club used for hitting a ball in games"),
    Document("wn:dog.n.01", "wordnet", "living", "dog", "dog: a domestic animal that barks, kept as a pet"),
    Document("wn:hammer.n.02", "wordnet", "artifacts", "hammer", "hammer: a hand tool for driving nails"),
    Document(
        "wn:teacher.n.01", "wordnet", "people_society", "teacher", "teacher: a person whose job is teaching"
    ),
]
EXPERT = {"expert": "people-society", "probability": 0.7, "scores": {"noun.person": 1.0},
          "instances": ["who teaches?", {"text": "a person whose job is teaching"}]}  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    """The retrieval tests' bag-of-words embedder (tests/rag use the same)."""
    return bow_embedder()


@pytest.fixture(scope="module")
def engine(app_db_url: str) -> Iterator[Engine]:
    """An engine on the session's migrated `aiprime` database."""
    engine = connect(app_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def bats(engine, embedder: Embedder) -> str:
    """The documents above in a collection of their own."""
    name = "test-serving-bats"
    ingest(engine, DOCS, embedder, collection=name)
    return name


def test_plain_instances_are_questions_without_a_route() -> None:
    request = parse_request({"instances": ["a dog", {"text": "a bat"}], "parameters": {"k": 2}})
    assert request.questions == (Question("a dog"), Question("a bat")) and request.k == 2
    assert request.questions[0].domain is None


@pytest.mark.parametrize(
    "key", ["predictions", "instances"]
)  # as answered, and after mapPredictionsToInstances
def test_an_experts_record_gives_one_question_per_instance_with_its_domain(key: str) -> None:
    questions = parse_request({key: [EXPERT]}).questions
    assert [q.text for q in questions] == ["who teaches?", "a person whose job is teaching"]
    assert {(q.expert, q.domain) for q in questions} == {("people-society", "people_society")}
    assert questions[0].passed_on == {"probability": 0.7, "scores": {"noun.person": 1.0}}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "got list"),
        ({"instances": []}, "under 'instances'"),
        ({"instances": ["ok", 42]}, "instances[1]"),
        (
            {"predictions": [{"expert": "living", "scores": {}}]},
            "predictions[0] is an expert's record without",
        ),
        ({"predictions": [{"expert": "living", "instances": [""]}]}, "predictions[0].instances[0]"),
        ({"instances": ["x"], "parameters": {"k": "4"}}, "parameters.k"),
        ({"instances": ["x"], "parameters": {"k": 0}}, "k=0"),
        ({"instances": ["x"], "parameters": [4]}, "'parameters' must be an object"),
    ],
)
def test_a_malformed_request_names_the_field(payload, field: str) -> None:
    with pytest.raises(InvalidInput, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_request(payload)


def test_the_routes_domain_decides_which_sense_leads(engine, embedder, bats) -> None:
    retriever = Retriever(engine, embedder, bats, k=2)
    routed = {"predictions": [dict(EXPERT, expert=e, instances=["bat"]) for e in ("living", "artifacts")]}
    living, artifacts = retriever.answer(parse_request(routed))["predictions"]
    assert living["hits"][0]["doc_id"] == "wn:bat.n.01"
    assert artifacts["hits"][0]["doc_id"] == "wn:bat.n.05"
    assert (artifacts["question"], artifacts["expert"], artifacts["domain"]) == (
        "bat",
        "artifacts",
        "artifacts",
    )
    assert artifacts["probability"] == 0.7 and set(artifacts["hits"][0]) == {
        "doc_id", "title", "content", "source", "domain", "score"}  # fmt: skip


def test_without_the_route_preference_both_routes_get_the_same_hits(engine, embedder, bats) -> None:
    retriever = Retriever(engine, embedder, bats, k=2, prefer_route_domain=False)
    routed = {"predictions": [dict(EXPERT, expert=e, instances=["bat"]) for e in ("living", "artifacts")]}
    living, artifacts = retriever.answer(parse_request(routed))["predictions"]
    plain = retriever.answer(parse_request({"instances": ["bat"]}))["predictions"][0]
    assert living["hits"] == artifacts["hits"] == plain["hits"]
    assert (living["domain"], artifacts["domain"]) == ("living", "artifacts")  # the route is still reported


def test_a_plain_question_has_no_route_and_k_comes_from_the_request(engine, embedder, bats) -> None:
    retriever = Retriever(engine, embedder, bats, k=4)
    (record,) = retriever.answer(parse_request({"instances": ["dog"], "parameters": {"k": 1}}))["predictions"]
    assert "expert" not in record and record["domain"] is None
    assert [h["doc_id"] for h in record["hits"]] == ["wn:dog.n.01"]


def test_a_reranker_picks_k_from_a_wider_pool(engine, embedder, bats) -> None:
    def by_title(question: str, hits: list, top_n: int) -> list:  # a real, if simple, re-ranker
        return sorted(hits, key=lambda h: h.title)[:top_n]

    retriever = Retriever(engine, embedder, bats, k=1, rerank=by_title)
    (record,) = retriever.answer(parse_request({"instances": ["dog"]}))["predictions"]
    assert [h["title"] for h in record["hits"]] == ["bat"]  # from the whole pool, not the single best hit


def test_a_reranker_folder_rescores_the_hits_as_probabilities(engine, embedder, bats, tmp_path) -> None:
    folder = save_reranker(new_reranker(), tmp_path / "reranker")  # untrained head: real, if not yet useful
    rerank, min_scores = load_rerank(str(folder), "http://unused", "x")
    retriever = Retriever(engine, embedder, bats, k=2, rerank=rerank, min_scores=min_scores)
    (record,) = retriever.answer(parse_request({"instances": ["bat"]}))["predictions"]
    scores = [h["score"] for h in record["hits"]]
    assert len(scores) == 2 and all(0 <= p <= 1 for p in scores) and scores == sorted(scores, reverse=True)
    assert min_scores == {} and "min_score" not in record  # never calibrated: the generator's own applies


def test_a_calibrated_reranker_passes_its_min_score_to_the_generator(
    engine, embedder, bats, tmp_path
) -> None:
    folder = save_reranker(new_reranker(), tmp_path / "reranker")
    save_calibration(folder, {"min_score": 0.375, "calibration/questions": 2.0})

    rerank, min_scores = load_rerank(str(folder), "http://unused", "x")
    reranked = Retriever(engine, embedder, bats, k=2, rerank=rerank, min_scores=min_scores)
    fused = Retriever(engine, embedder, bats, k=2, min_scores=min_scores)  # RRF scores: another scale

    assert reranked.answer(parse_request({"instances": ["bat"]}))["predictions"][0]["min_score"] == 0.375
    assert "min_score" not in fused.answer(parse_request({"instances": ["bat"]}))["predictions"][0]


def test_each_query_kind_gets_its_own_threshold(engine, embedder, bats, tmp_path) -> None:
    folder = save_reranker(new_reranker(), tmp_path / "reranker")
    save_calibration(folder, {"min_score": 0.625, "min_score/keyword": 0.25, "min_score/code": 0.125})

    rerank, min_scores = load_rerank(str(folder), "http://unused", "x")
    retriever = Retriever(engine, embedder, bats, k=2, rerank=rerank, min_scores=min_scores)
    asked = [
        'What does "bat" mean in "the bat flew out"?',
        "bat",
        "bat.swing()",
        "an animal that flies at night",
    ]
    records = retriever.answer(parse_request({"instances": asked}))["predictions"]

    # sense, keyword, code, then definition: calibrated before it had its own, so sense's applies
    assert [r["min_score"] for r in records] == [0.625, 0.25, 0.125, 0.625]


def test_auto_without_a_reachable_registry_serves_the_fused_ranking() -> None:
    assert load_rerank("auto", f"http://127.0.0.1:{free_port()}", "champion") == (None, {})


def test_the_collection_check_names_the_fix(engine, embedder, bats) -> None:
    check_collection(engine, bats, embedder)
    with pytest.raises(NotFound, match="aiprime rag ingest --collection nope"):
        check_collection(engine, "nope", embedder)
    other = Embedder("another-model", embedder.dim, embedder.embed)
    with pytest.raises(ConfigError, match="embedded with hashed-bow-test"):
        check_collection(engine, bats, other)


def test_k_out_of_range_is_refused_at_start() -> None:
    with pytest.raises(InvalidInput, match="k=0"):
        Retriever(None, None, "c", k=0)  # type: ignore[arg-type]


def test_reranker_none_loads_nothing_and_a_missing_folder_is_a_config_error(tmp_path) -> None:
    assert load_rerank("none", "http://unused", "champion") == (None, {})
    with pytest.raises(ConfigError, match="is not a folder; pass auto, none"):
        load_rerank(str(tmp_path / "nope"), "http://unused", "champion")
