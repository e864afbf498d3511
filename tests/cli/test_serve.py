"""`aiprime ask`'s rendering: the route and prediction always, the generator's answer when the graph is RAG."""

from __future__ import annotations

from aiprime.cli.render import console
from aiprime.cli.serve import _render_answer
from aiprime.serving.client import Answer


def answer(reply: str | None, citations: list[str], mode: str | None = None) -> Answer:
    return Answer("What does \"bank\" mean?", ["living", "artifacts"], [0.7, 0.3], ["living"],
                  {"noun.object": 0.9, "noun.animal": 0.1}, None, None, reply, citations, mode)  # fmt: skip


def test_the_rag_answer_is_shown_with_its_citations() -> None:
    with console.capture() as captured:
        _render_answer(answer("Sloping land beside water [wn:n09213565].", ["wn:n09213565"]), top=5)

    assert "Answer (cites wn:n09213565):" in captured.get()
    assert "Sloping land beside water [wn:n09213565]." in captured.get()


def test_an_abstention_says_nothing_was_cited_and_a_plain_graph_shows_no_answer() -> None:
    with console.capture() as abstained:
        _render_answer(answer("I could not find this in the indexed documents.", []), top=5)
    with console.capture() as plain:
        _render_answer(answer(None, []), top=5)

    assert "Answer (cites nothing):" in abstained.get()
    assert "Prediction: noun.object" in plain.get() and "Answer" not in plain.get()


def test_the_answer_says_whether_it_was_generated_or_the_passage_quoted() -> None:
    quoted = "From WordNet [wn:n09213565]: bank: sloping land"
    with console.capture() as captured:
        _render_answer(answer(quoted, ["wn:n09213565"], "extractive"), top=5)
    with console.capture() as generated:
        _render_answer(answer("[wn:n09213565] Sloping land.", ["wn:n09213565"], "generated"), top=5)

    assert "Answer (the best passage quoted: the model's draft failed the check, cites" in captured.get()
    assert "Answer (generated and checked against the passage it cites, cites" in generated.get()
