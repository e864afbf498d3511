"""The retriever's KServe model: questions (or an expert's response) in, the chunks to ground an answer out.

Contract (kserve/graphs/README.md): one v1 record per question, `{"question", "expert" (when routed),
"domain", "hits": [{"doc_id", "title", "content", "source", "domain", "score"}], ...}`, searched hybrid
(pgvector and full text, fused) with the expert's domain preferred, and re-ranked by the re-ranker
champion when one is registered. The parsing and the search are `aiprime.serving.retriever`; v1 only.
"""

from __future__ import annotations

from typing import Any

from kserve import InferRequest

from aiprime.errors import InvalidInput
from aiprime.rag.embed import Embedder
from aiprime.rag.search import ANSWER_K
from aiprime.serving.base_server import ServingModel
from aiprime.serving.retriever import (
    Retriever,
    RetrieverRequest,
    check_collection,
    connect_store,
    load_rerank,
    parse_request,
    query_embedder,
)
from aiprime.settings import Settings


class RetrieverModel(ServingModel):
    """Searches one retrieval collection for each question."""

    def __init__(
        self, name: str, *, server_url: str | None, collection: str, k: int = ANSWER_K, reranker: str = "auto",
        tracking_uri: str | None = None, alias: str = "champion", embedder: Embedder | None = None,
        max_in_flight: int = 0, prefer_route_domain: bool = True,
    ) -> None:  # fmt: skip
        """Create the retriever (not loaded).

        `server_url` is the PostgreSQL server (None: the embedded one); `reranker` `auto` loads the
        re-ranker's `alias` from MLflow at `tracking_uri` (None: the settings') when one is registered,
        `none` loads none, anything else is a re-ranker's folder; `embedder` replaces the model that
        AIPRIME_RAG_EMBEDDER names (tests); `prefer_route_domain` boosts the routed expert's domain.
        """
        super().__init__(name, max_in_flight=max_in_flight)
        self.server_url = server_url
        self.collection = collection
        self.k = k
        self.reranker = reranker
        self.tracking_uri = tracking_uri
        self.alias = alias
        self.embedder = embedder
        self.prefer_route_domain = prefer_route_domain
        self.retriever: Retriever | None = None

    def load(self) -> bool:
        """Connect, check the collection exists and matches the embedder, load the embedder and re-ranker."""
        settings = Settings()
        engine = connect_store(self.server_url, settings)
        embedder = self.embedder or query_embedder(settings)
        check_collection(engine, self.collection, embedder)  # before the slow part: fail fast, say the fix
        embedder.embed(["warm up"])  # loads the model now, so ready means ready
        rerank, min_scores = load_rerank(self.reranker, self.tracking_uri or settings.mlflow_url, self.alias)
        self.retriever = Retriever(
            engine, embedder, self.collection, self.k, rerank, min_scores, self.prefer_route_domain
        )
        self.ready = True
        return self.ready

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> RetrieverRequest:
        """Parse v1 questions or an expert's response; v2 tensors are refused."""
        if isinstance(payload, InferRequest):
            raise InvalidInput(
                f"The retriever takes v1 JSON at /v1/models/{self.name}:predict, e.g. "
                '{"instances": ["a question"]}; v2 tensors have no meaning here.'
            )
        return parse_request(payload)

    async def predict(
        self, request: RetrieverRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One record of hits per question."""
        return await self.blocking(self.retriever.answer, request)

    def stop(self) -> None:
        """Close the database connections, then stop."""
        if self.retriever is not None:
            self.retriever.engine.dispose()
        super().stop()
