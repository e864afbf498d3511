"""What the `retriever` model server accepts and answers (KServe v1), and the search it runs per question.

Requests (the contract is `kserve/graphs/README.md`), under `instances` or, as an expert answers them,
`predictions`:
- plain questions: `{"instances": ["a question", {"text": "another"}]}`;
- an expert's response in the RAG graph: records `{"expert": "<route name>", "instances": [...], ...}`,
  whose route name (`people-society`) becomes the search's preferred domain (`people_society`), unless the
  record says the gate was unsure (`"confident": false`: below its calibrated threshold).
An optional `"parameters": {"k": N}` overrides the server's `--k`.

Answers: one record per question, `{"question", "expert" (when routed), "domain", "hits": [...],
"chunk_ids": [...]}` (the stored chunks the hits are, in order: the generator passes them on, so the gateway's
audit log names what an answer was grounded on), with the expert's `probability`, `scores`, `label` and
`model_versions` passed on, so the generator sees the whole route; with a calibrated re-ranker also
`"min_score"`, the re-ranked score below which the generator abstains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from aiprime.db.engine import connect, open_app_db
from aiprime.db.urls import database_url
from aiprime.errors import ConfigError, InvalidInput
from aiprime.rag import store
from aiprime.rag.embed import Embedder, make_embedder
from aiprime.rag.query_kinds import query_kind
from aiprime.rag.search import ANSWER_K, MAX_K, RERANK_CANDIDATES, Hit, check_k, search
from aiprime.serving.names import domain_name
from aiprime.serving.protocol import MODEL_VERSIONS, upstream_records
from aiprime.serving.tracing import database_span
from aiprime.settings import Settings

log = logging.getLogger(__name__)
V1_SHAPE = '{"instances": ["a question", {"text": "another"}]} or an expert\'s response'
# the expert's keys each answer record carries on
PASSED_ON = ("probability", "scores", "label", "confident", MODEL_VERSIONS)
Rerank = Callable[[str, list[Hit], int], list[Hit]]  # (question, candidates, top_n) -> best first


@dataclass(frozen=True)
class Question:
    """One question to retrieve for, with the route that brought it (if any)."""

    text: str  # the question
    expert: str | None = None  # the expert's route name (`people-society`) when routed by a graph
    passed_on: Mapping[str, Any] = field(default_factory=dict)  # the expert's keys in PASSED_ON

    @property
    def domain(self) -> str | None:
        """The retrieval domain the route prefers (`people_society`), or None when not routed or the gate was
        unsure of the route."""
        trusted = self.passed_on.get("confident", True) is not False
        return domain_name(self.expert) if self.expert and trusted else None


@dataclass(frozen=True)
class RetrieverRequest:
    """A parsed request: its questions and the number of hits each gets."""

    questions: tuple[Question, ...]
    k: int | None = None  # `parameters.k`; None: the server's default


def parse_request(payload: Any) -> RetrieverRequest:
    """The questions of a v1 request: plain instances, or an expert's (or gate's) records carrying them.

    Raises:
        InvalidInput: naming the field that is missing or malformed, and the shape to send.
    """
    key, records = upstream_records(payload, "retriever", V1_SHAPE)
    questions = [q for i, record in enumerate(records) for q in _questions(record, f"{key}[{i}]")]
    return RetrieverRequest(tuple(questions), _k(payload.get("parameters")))


def _questions(record: Any, where: str) -> list[Question]:
    if isinstance(record, Mapping) and "expert" in record:
        texts = record.get("instances")
        if not isinstance(texts, list) or not texts:
            raise InvalidInput(
                f"{where} is an expert's record without 'instances' (the question it answered); got "
                f"{record!r:.200}. Route with experts that carry the gate's instances on (kserve/expert)."
            )
        passed_on = {name: record[name] for name in PASSED_ON if name in record}
        return [Question(_text(t, f"{where}.instances[{j}]"), str(record["expert"]), passed_on)
                for j, t in enumerate(texts)]  # fmt: skip
    return [Question(_text(record, where))]


def _text(instance: Any, where: str) -> str:
    text = instance.get("text") if isinstance(instance, Mapping) else instance
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{where} must be a non-empty text or {{'text': '...'}}; got {instance!r:.200}.")
    return text


def _k(parameters: Any) -> int | None:
    if parameters is None:
        return None
    if not isinstance(parameters, Mapping):
        raise InvalidInput(f"'parameters' must be an object such as {{'k': 4}}; got {parameters!r:.200}.")
    k = parameters.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise InvalidInput(f"parameters.k must be a whole number from 1 to {MAX_K}; got {k!r}.")
    return None if k is None else check_k(k)


def hit_record(hit: Hit) -> dict[str, Any]:
    """A hit as the retriever answers it."""
    return {"doc_id": hit.doc_id, "title": hit.title, "content": hit.content, "source": hit.source,
            "domain": hit.domain, "score": round(float(hit.score), 6)}  # fmt: skip


def answer_record(question: Question, hits: Sequence[Hit], min_score: float | None = None) -> dict[str, Any]:
    """The retriever's v1 record for one question (with the re-ranker's calibrated `min_score`, if any)."""
    route = {"expert": question.expert} if question.expert else {}
    threshold = {"min_score": min_score} if min_score is not None else {}
    return {"question": question.text, **route, "domain": question.domain, **question.passed_on,
            "hits": [hit_record(h) for h in hits], "chunk_ids": [h.chunk_id for h in hits],
            **threshold}  # fmt: skip


@dataclass(frozen=True)
class Retriever:
    """The search a retriever server runs: one collection, one query embedder, an optional re-ranker."""

    engine: Engine  # the `aiprime` database
    embedder: Embedder  # the model the collection was embedded with
    collection: str  # the collection searched
    k: int = ANSWER_K  # hits per question unless the request says otherwise
    rerank: Rerank | None = None  # the re-ranker champion, when one was loaded
    min_scores: Mapping[str, float] = field(default_factory=dict)  # query kind -> the re-ranker's calibrated
    # abstention threshold, passed to the generator with each question of that kind
    prefer_route_domain: bool = True  # boost the routed expert's domain (off: search every domain alike)

    def __post_init__(self) -> None:
        check_k(self.k)

    def answer(self, request: RetrieverRequest) -> dict[str, Any]:
        """`{"predictions": [...]}`, one record per question, hybrid search preferring the route's domain."""
        k = request.k or self.k
        return {
            "predictions": [answer_record(q, self.hits(q, k), self.min_score(q)) for q in request.questions]
        }

    def min_score(self, question: Question) -> float | None:
        """The abstention threshold of `question`'s kind: one on the re-ranker's scores only."""
        return self.min_scores.get(query_kind(question.text)) if self.rerank else None

    def hits(self, question: Question, k: int) -> list[Hit]:
        """The best `k` chunks for one question (re-ranked from a wider pool when a re-ranker is loaded)."""
        pool = max(k, RERANK_CANDIDATES) if self.rerank else k
        prefer = question.domain if self.prefer_route_domain else None
        with database_span("hybrid search", self.collection):  # the question's embedding, then the query
            found = search(self.engine, question.text, self.embedder, k=pool, mode="hybrid",
                           collection=self.collection, prefer_domain=prefer)  # fmt: skip
        return self.rerank(question.text, found, k) if self.rerank and found else found


def check_collection(engine: Engine, collection: str, embedder: Embedder) -> None:
    """Raise unless `collection` exists and was embedded with `embedder`'s model.

    Raises:
        NotFound: the table or the collection does not exist (the message names `aiprime rag ingest`).
        ConfigError: the collection was embedded with another model, or at another dimension.
    """
    with engine.connect() as conn:
        store.check_dim(conn, embedder.dim, f"The retriever's embedder {embedder.name}")
        store.check_model(conn, store.collection_id(conn, collection), embedder.name)


def connect_store(server_url: str | None, settings: Settings) -> Engine:
    """An engine on the `aiprime` database of the PostgreSQL server at `server_url` (None: the embedded one).

    Like `aiprime.db.engine.open_app_db` it neither starts, creates nor migrates anything: a retriever may hold a
    read-only user.

    Raises:
        ServiceUnavailable: the server cannot be reached, or no URL is set and no embedded server runs.
    """
    return connect(database_url(server_url, "aiprime")) if server_url else open_app_db(settings)


def query_embedder(settings: Settings) -> Embedder:
    """The model `settings.rag_embedder` names, computed per request (no disk cache: questions are not worth
    keeping)."""
    return make_embedder(settings, cached=False)


def load_rerank(choice: str, tracking_uri: str, alias: str) -> tuple[Rerank | None, dict[str, float]]:
    """The re-ranker that `--reranker` names, bound as a `Rerank`, and its calibrated threshold per query kind
    (empty when uncalibrated); (None, {}) for `none` or when none is registered.

    `auto` is the `alias` version of `aiprime-reranker` on the MLflow server at `tracking_uri`: while none is
    registered (or the server does not answer) the retriever serves the fused ranking as it is. Anything
    else is a folder written by `aiprime rag train-reranker --out`.
    """
    if choice == "none":
        return None, {}
    if choice != "auto" and not Path(choice).is_dir():
        raise ConfigError(f"--reranker {choice!r} is not a folder; pass auto, none or a re-ranker's folder.")
    from aiprime.rag import rerank  # torch and transformers: only for a server that re-ranks

    reranker = rerank.resolve_reranker(alias if choice == "auto" else choice, tracking_uri)
    if reranker is None:
        log.warning("no %r re-ranker is registered at %s; serving the fused ranking", alias, tracking_uri)
        return None, {}
    if reranker.min_score is None:
        log.warning(
            "%s is not calibrated (`aiprime rag calibrate`): answers abstain only below the generator's "
            "own --min_score",
            reranker.source,
        )
    elif not reranker.calibrated_per_kind():
        log.warning(
            "%s has no threshold of its own per query kind: every kind abstains below the sense questions' "
            "min_score; run `aiprime rag calibrate` again",
            reranker.source,
        )
    return (
        lambda question, hits, top_n: rerank.rerank(question, hits, reranker, top_n)
    ), reranker.thresholds()
