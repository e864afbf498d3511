"""The generator as a KServe server (`python kserve/generator`) over real HTTP: both request shapes, the
pass-through of the retriever's keys, abstention, a 400 naming the bad field, and SmolLM2 in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _helpers import AsgiServer
from _helpers.chat_stub import chat_app
from _helpers.processes import ModelServerProcess

from aiprime.errors import ConfigError
from aiprime.rag.generators import smollm2_path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180
HITS = [
    {"doc_id": "wn:n09213565", "title": "bank", "score": 0.031,
     "content": "bank\nsloping land (especially the slope beside a body of water)"},
    {"doc_id": "wn:n09213434", "title": "bank", "content": "bank\na long ridge or pile", "score": 0.016},
]  # fmt: skip
QUESTION = 'What does "bank" mean in "they pulled the canoe up on the bank"?'


def generator_process(args: list[str], log: Path) -> ModelServerProcess:
    """`python kserve/generator ARGS`, with no AIPRIME_GENERATOR_* setting from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPRIME_GENERATOR")}
    return ModelServerProcess("generator", args, log, env=env)


@pytest.fixture(scope="module")
def chat() -> Iterator[AsgiServer]:
    """An OpenAI-compatible chat server that quotes the first source, as AIPRIME_GENERATOR_URL."""
    with AsgiServer(chat_app()) as server:
        yield server


@pytest.fixture(scope="module")
def generator(chat: AsgiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerProcess]:
    """The generator server answering through `chat`, abstaining below a top score of 0.02."""
    log = tmp_path_factory.mktemp("generator") / "generator.log"
    process = generator_process(
        ["--generator_url", chat.url, "--generator_model", "tiny", "--min_score", "0.02"], log
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_answers_instances_with_citations(generator: ModelServerProcess) -> None:
    response = generator.predict({"instances": [{"question": QUESTION, "hits": HITS}]})
    assert response.status_code == 200, response.text
    [record] = response.json()["predictions"]
    assert record["question"] == QUESTION and record["answer"].startswith("[wn:n09213565] bank: sloping land")
    assert record["citations"] == ["wn:n09213565"] and record["unknown_citations"] == []
    assert record["grounded"] is True and record["support"] == 1.0 and record["abstained"] is False
    assert record["mode"] == "generated" and record["set_aside"] == ""
    assert record["sources"] == ["wn:n09213565", "wn:n09213434"]
    assert record["confidence"] == pytest.approx(0.031 / 0.047) and record["abstained_because"] == ""


def test_answers_the_retrievers_response_passing_its_keys_on(
    generator: ModelServerProcess, chat: AsgiServer
) -> None:
    asked = len(chat.server.config.app.state.requests)
    weak = [{**hit, "score": 0.01} for hit in HITS]
    retrieved = {"predictions": [
        {"question": QUESTION, "expert": "living", "domain": "living", "probability": 0.9, "hits": HITS},
        {"question": "What is a frobnicator?", "expert": "artifacts", "domain": "artifacts", "hits": weak},
    ]}  # fmt: skip
    response = generator.predict(retrieved)
    assert response.status_code == 200, response.text
    answered, abstained = response.json()["predictions"]
    assert (answered["expert"], answered["domain"], answered["probability"]) == ("living", "living", 0.9)
    assert answered["citations"] == ["wn:n09213565"] and "hits" not in answered
    assert (
        abstained["expert"] == "artifacts" and abstained["abstained"] is True and abstained["citations"] == []
    )
    assert len(chat.server.config.app.state.requests) == asked + 1  # the abstention never reached the model


def test_the_retrievers_calibrated_min_score_is_applied_when_it_is_the_stricter(
    generator: ModelServerProcess,
) -> None:
    strict = {"question": QUESTION, "hits": HITS, "min_score": 0.5, "expert": "living"}  # above the 0.031
    lenient = {"question": QUESTION, "hits": HITS, "min_score": 0.0}  # the server's 0.02 still applies

    response = generator.predict({"predictions": [strict, lenient]})

    assert response.status_code == 200, response.text
    refused, answered = response.json()["predictions"]
    assert refused["abstained"] is True and refused["expert"] == "living" and "min_score" not in refused
    assert answered["abstained"] is False and answered["citations"] == ["wn:n09213565"]


def test_a_sense_question_abstains_when_no_hit_is_a_sense_of_the_word_or_its_senses_compete(
    generator: ModelServerProcess, chat: AsgiServer
) -> None:
    asked = len(chat.server.config.app.state.requests)
    dog = {"doc_id": "wn:n02084071", "title": "dog", "content": "dog\na domesticated canid", "score": 0.9}
    depository = {"doc_id": "wn:n08420278", "title": "bank", "content": "bank\na financial institution"}
    even = [HITS[0], {**HITS[1], "score": 0.031}, {**depository, "score": 0.031}]  # three senses: 1/3 each

    response = generator.predict(
        {"instances": [{"question": QUESTION, "hits": hits} for hits in ([dog], even)]}
    )

    assert response.status_code == 200, response.text
    unnamed, competing = response.json()["predictions"]
    assert unnamed["abstained"] is True and unnamed["confidence"] == 0.0
    assert unnamed["abstained_because"] == 'no retrieved passage is a sense of "bank"'
    assert competing["mode"] == "abstained" and competing["abstained_because"].startswith(
        'the senses of "bank"'
    )
    assert len(chat.server.config.app.state.requests) == asked  # neither reached the model


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"instances": [{"question": QUESTION, "hits": [{"title": "no id", "content": "x"}]}]},
            "hits[0].doc_id",
        ),
        ({"instances": [{"question": "", "hits": HITS}]}, "instances[0].question"),
        ({"instances": [{"question": QUESTION}]}, "instances[0].hits is missing"),
        ({"predictions": []}, "non-empty list under 'predictions'"),
        (
            {"predictions": [{"question": QUESTION, "hits": HITS, "min_score": "high"}]},
            "predictions[0].min_score",
        ),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field(
    generator: ModelServerProcess, body: dict, field: str
) -> None:
    response = generator.predict(body)
    assert response.status_code == 400 and field in response.json()["error"], response.text


def test_smollm2_answers_in_process(tmp_path: Path) -> None:
    try:
        smollm2_path()
    except ConfigError as e:
        pytest.skip(f"SmolLM2's gguf is not installed here: {e}")
    process = generator_process(["--max_tokens", "32", "--llama_threads", "1"], tmp_path / "generator.log")
    try:
        process.wait_ready()
        response = process.predict({"instances": [{"question": QUESTION, "hits": HITS}]})
    finally:
        process.stop()
    assert response.status_code == 200, response.text
    [record] = response.json()["predictions"]
    assert record["answer"] and record["abstained"] is False
    assert set(record["citations"]) <= {hit["doc_id"] for hit in HITS}
