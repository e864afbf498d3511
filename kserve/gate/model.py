"""The gate's KServe model: text in, the experts ranked for the request out.

Contract (kserve/graphs/README.md): one v1 record per request, `{"instances": [...as received...],
"expert": "<first choice>", "experts": [...ranked...], "probabilities": [...]}`; the probabilities are the
gate's softmax (at its calibrated temperature) averaged over the request's instances, each text read with
its word (the quoted word of a sense question, `aiprime.serving.gate_text.GateClassifier`); a calibrated gate adds
`"confident"`, whether the first choice's probability reached the threshold stored with it. v2 answers per
text: `probabilities` [N, D] and `expert` [N]. `:explain` attributes the first choice (or
`parameters.target`) to the words of each text; `parameters.counterfactual: true` adds to each record the
fewest words (at most 3) whose deletion changes the route, or null.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from opentelemetry import trace

from aiprime.drift.requests import LoggedRequest
from aiprime.explain import TextExplainer
from aiprime.explain.measures import explanation_record
from aiprime.moe.embeddings import EMBED_DIM
from aiprime.observability.logs import current_request_id
from aiprime.serving import served_models
from aiprime.serving.base_server import ServingModel
from aiprime.serving.gate_text import GateClassifier
from aiprime.serving.load import LoadWatcher, rerank
from aiprime.serving.metrics import GateMetrics
from aiprime.serving.names import route_name
from aiprime.serving.protocol import Request, gate_record, parse_gate, v2_response
from aiprime.serving.request_log import RequestLog
from aiprime.serving.text import TextEncoder

RANKS = ("first", "second")  # the choices counted in aiprime_gate_selections_total


DEFAULT_EXPLAINER = "shap"  # the best measured on 500 held-out glosses (README "Explanations, measured")


class GateModel(ServingModel):
    """Routes each request to experts by the gate's probabilities (and, if watched, the experts' load)."""

    def __init__(
        self, name: str, source: served_models.ModelSource, *, explainer: str = DEFAULT_EXPLAINER, watcher: LoadWatcher | None = None,
        max_in_flight: int = 0, request_log: RequestLog | None = None,
    ) -> None:  # fmt: skip
        """Create the gate (not loaded): `source` says where the model is, `watcher` turns on load-awareness,
        `request_log` (started) receives every text's embedding and gate choice, for drift detection."""
        super().__init__(name, max_in_flight=max_in_flight)
        self.request_log = request_log
        self.source = source
        self.explainer_method = explainer
        self.watcher = watcher
        self.gate_metrics = GateMetrics()
        self.classifier: GateClassifier | None = None
        self.threshold: float | None = None
        self.version: str | None = None
        self.explainer: TextExplainer | None = None

    def load(self) -> bool:
        """Load the gate and the encoder; the classes are the experts' route names (`people-society`)."""
        served = served_models.load(self.source, "gate")
        routes = tuple(route_name(domain) for domain in served.classes)
        self.classifier = GateClassifier(TextEncoder.load(), served.module, routes, served.temperature)
        self.threshold = served.threshold  # None: uncalibrated, the record says nothing of confidence
        self.version = served.version  # NAME@VERSION, logged with each request for `aiprime lineage`
        self.explainer = TextExplainer(self.classifier, self.explainer_method)
        self.ready = True
        return self.ready

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Request:
        """Parse v1 instances or a v2 `text` tensor."""
        return parse_gate(payload)

    async def predict(self, request: Request, headers: dict[str, str] | None = None) -> Any:
        """The routing record (v1) or per-text probabilities (v2)."""
        embedded, probabilities = await self.blocking(self._classify, request.texts)  # (N, 384), (N, D)
        self._log_for_drift(embedded, probabilities)
        if request.v2:
            top = np.array([self.classifier.classes[i] for i in probabilities.argmax(axis=1)], dtype=object)
            return v2_response(self.name, request, {"probabilities": probabilities, "expert": top})
        mean = probabilities.mean(axis=0)  # (D,) one decision per request
        confident = None if self.threshold is None else bool(mean.max() >= self.threshold)
        experts, ranked = self._rank(mean)
        return {"predictions": [gate_record(request.instances, experts, ranked, confident, self.version)]}

    async def explain(self, request: Request, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Which words pushed each text towards the first choice (or `parameters.target`)."""
        return await self.blocking(self._explain, request)

    def stop(self) -> None:
        """Write the requests still queued for the request log, then stop."""
        if self.request_log is not None:
            self.request_log.close()
        super().stop()

    def _classify(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        features = self.classifier.features(texts)  # (N, 768): each text's embedding, then its word's
        return features[:, :EMBED_DIM].numpy(), self.classifier.probabilities(features)  # drift: the text's

    def _log_for_drift(self, embedded: np.ndarray, probabilities: np.ndarray) -> None:
        """Hand each text's embedding and the gate's own first choice to the request log (non-blocking), with
        the request's id and the version served."""
        if self.request_log is None:
            return
        top = probabilities.argmax(axis=1)  # (N,) before any load-aware reranking: the gate's decision
        request_id = current_request_id()
        self.request_log.submit(
            [
                LoggedRequest(
                    self.name,
                    vector,
                    self.classifier.classes[i],
                    float(row[i]),
                    None,
                    request_id,
                    self.version,
                )
                for vector, row, i in zip(embedded, probabilities, top, strict=True)
            ]
        )

    def _rank(self, mean: np.ndarray) -> tuple[list[str], list[float]]:
        order = np.argsort(-mean, kind="stable")
        experts = [self.classifier.classes[i] for i in order]
        ranked = [float(mean[i]) for i in order]
        if self.watcher is not None:
            experts, ranked, avoided = rerank(experts, ranked, self.watcher.avoid)
            for expert, reason in avoided.items():
                self.gate_metrics.avoided.labels(expert, reason).inc()
        for rank, expert in zip(RANKS, experts, strict=False):
            self.gate_metrics.selections.labels(expert, rank).inc()
        self.gate_metrics.confidence.labels(experts[0]).observe(ranked[0])
        trace.get_current_span().set_attribute("aiprime.expert", experts[0])
        return experts, ranked

    def _explain(self, request: Request) -> dict[str, Any]:
        target = request.parameters.get("target")
        if target is None:
            target = int(self.classifier.predict_texts(request.texts).mean(axis=0).argmax())
        elif isinstance(target, str):
            target = route_name(target)  # a domain name is accepted too
        index = self.classifier.index(target)
        method = request.parameters.get("method")
        counterfactual = request.parameters.get("counterfactual", False)
        why = [self.explainer.explain(t, index, method) for t in request.texts]
        return {"explanations": [explanation_record(self.classifier, e, counterfactual) for e in why]}
