"""What the `generator` model server accepts and answers (KServe v1), and the answering it runs per record.

Requests carry one record per question, `{"question": "...", "hits": [{"doc_id", "title", "content",
"score"}, ...]}`, under `instances`, or under `predictions` as the retriever answers them (its records also
carry `expert`, `domain`, ... which pass through, and `min_score`, its calibrated re-ranker's threshold:
the record abstains below the stricter of that and the server's `--min_score`). Answers: one record per question,
`{...the request record's other keys, "question", "answer", "mode", "grounded", "support", "confidence",
"set_aside", "abstained_because", "citations", "unknown_citations", "abstained", "sources": [doc ids]}`.
Every answer is checked before it is shown (`aiprime.rag.generate.answer`): `mode` is `generated`,
`extractive` (the model's draft failed the check, so the best passage is quoted; `set_aside` says why) or
`abstained` (`abstained_because` says why: a low score, or for a sense question no retrieved sense of the
word or none that clearly fits, `confidence` below the server's `min_share`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiprime.errors import InvalidInput
from aiprime.rag.generate import MIN_SENSE_SHARE, Answer, answer, as_hits
from aiprime.rag.generators import Generator
from aiprime.rag.search import Hit, check_query
from aiprime.serving.protocol import upstream_records

V1_SHAPE = (
    '{"instances": [{"question": "...", "hits": [{"doc_id": "wn:n02084071", "title": "...", "content": "...", '
    '"score": 0.03}]}]} or the retriever\'s response ({"predictions": [...]})'
)
CONSUMED = ("question", "hits", "min_score")  # the keys a record is answered from; the others pass through


@dataclass(frozen=True)
class GeneratorRecord:
    """One question to answer, the hits to answer it from, and the record's other keys."""

    question: str  # the question, stripped
    hits: tuple[Hit, ...]  # best first, as the retriever ranked them
    min_score: float = 0.0  # the retriever's calibrated threshold for these hits' scores (0: none sent)
    passed_on: Mapping[str, Any] = field(default_factory=dict)  # the record's other keys: expert, domain


def parse_request(payload: Any) -> list[GeneratorRecord]:
    """The records of a v1 request, under `instances` or (the retriever's response) `predictions`.

    Raises:
        InvalidInput: naming the field that is missing or malformed, and the shape to send.
    """
    key, records = upstream_records(payload, "generator", V1_SHAPE)
    return [_record(record, f"{key}[{i}]") for i, record in enumerate(records)]


def _record(record: Any, where: str) -> GeneratorRecord:
    if not isinstance(record, Mapping):
        raise InvalidInput(f"{where} must be an object {{'question', 'hits'}}; got {record!r:.200}.")
    if "hits" not in record:
        raise InvalidInput(f"{where}.hits is missing: send the retrieved passages (an empty list abstains).")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(f"{where}.question must be a non-empty text; got {question!r:.200}.")
    try:
        question = check_query(question)
    except InvalidInput as e:
        raise InvalidInput(f"{where}.question: {e}") from e
    hits = as_hits(record["hits"], f"{where}.hits")
    passed_on = {k: v for k, v in record.items() if k not in CONSUMED}
    return GeneratorRecord(question, tuple(hits), _min_score(record.get("min_score", 0.0), where), passed_on)


def _min_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(
            f"{where}.min_score must be a finite number (the retriever's threshold); got "
            f"{value!r:.100}. Leave it out to use the generator's --min_score."
        )
    return float(value)


def answer_record(record: GeneratorRecord, generated: Answer) -> dict[str, Any]:
    """The generator's v1 record for one question: the request's other keys, the answer, how it was checked."""
    return {
        **record.passed_on,
        "question": generated.question,
        "answer": generated.text,
        "mode": generated.mode,
        "grounded": generated.grounded,
        "support": generated.support,
        "confidence": generated.confidence,
        "set_aside": generated.set_aside,
        "abstained_because": generated.abstained_because,
        "citations": list(generated.citations),
        "unknown_citations": list(generated.unknown_citations),
        "abstained": generated.abstained,
        "sources": [source["doc_id"] for source in generated.sources],
    }


def answer_all(
    records: Sequence[GeneratorRecord],
    generator: Generator,
    *,
    min_score: float,
    max_tokens: int,
    min_share: float = MIN_SENSE_SHARE,
) -> dict[str, Any]:
    """`{"predictions": [...]}`: each record answered from its own hits, abstaining below the stricter of
    `min_score` and the record's own, and from a sense question whose chosen sense holds less than
    `min_share` of its senses' score."""
    answers = (
        answer(
            r.question,
            r.hits,
            generator,
            min_score=max(min_score, r.min_score),
            min_share=min_share,
            max_tokens=max_tokens,
        )
        for r in records
    )
    return {"predictions": [answer_record(r, a) for r, a in zip(records, answers, strict=True)]}
