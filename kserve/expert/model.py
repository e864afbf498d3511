"""An expert's KServe model: the gate's response (or plain text) in, the fine classes of one domain out.

Contract (kserve/graphs/README.md): one v1 record per gate record, `{"expert": "<route name>",
"probability": <the gate's probability for this expert, 0 if not chosen>, "scores": {label: p, ...},
"instances": [...the gate record's, carried on...]}`, the scores averaged over the record's instances;
called directly with plain instances, one record per instance (probability 1, no `instances`). v2 answers
per text: `probabilities` [N, C] and `label` [N]. `:explain` attributes the top class (or
`parameters.target`) of each text to its words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiprime.explain import TextExplainer
from aiprime.serving import served_models
from aiprime.serving.base_server import ServingModel
from aiprime.serving.names import route_name
from aiprime.serving.protocol import Request, expert_record, gate_probability, parse_expert, v2_response
from aiprime.serving.text import TextClassifier, TextEncoder


class ExpertModel(ServingModel):
    """Classifies text within one domain."""

    def __init__(
        self, name: str, domain: str, source: served_models.ModelSource, *, explainer: str = "auto", max_in_flight: int = 0
    ) -> None:  # fmt: skip
        """Create the expert of `domain` (not loaded); `source` says where its model is."""
        super().__init__(name, max_in_flight=max_in_flight)
        self.domain = domain
        self.route = route_name(domain)  # how the gate names this expert
        self.source = source
        self.explainer_method = explainer
        self.classifier: TextClassifier | None = None
        self.explainer: TextExplainer | None = None
        self.version: str | None = None  # NAME@VERSION when loaded from the registry: named in each record

    def load(self) -> bool:
        """Load the expert of `domain` and the encoder."""
        served = served_models.load(self.source, "expert", self.domain)
        self.classifier = TextClassifier(TextEncoder.load(), served.module, served.classes)
        self.version = served.version
        self.explainer = TextExplainer(self.classifier, self.explainer_method)
        self.ready = True
        return self.ready

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Request:
        """Parse the gate's response, plain v1 instances, or a v2 `text` tensor."""
        return parse_expert(payload)

    async def predict(self, request: Request, headers: dict[str, str] | None = None) -> Any:
        """One record per gate record or instance (v1), or per-text probabilities (v2)."""
        probabilities = await self.blocking(self.classifier.predict_texts, request.texts)  # (N, C)
        classes = self.classifier.classes
        if request.v2:
            labels = np.array([classes[i] for i in probabilities.argmax(axis=1)], dtype=object)
            return v2_response(self.name, request, {"probabilities": probabilities, "label": labels})
        records, start = [], 0
        for group in request.groups:
            scores = probabilities[start : start + len(group.texts)].mean(axis=0)  # (C,)
            start += len(group.texts)
            probability = gate_probability(group.gate, self.route)
            records.append(expert_record(self.route, probability, classes, scores, group.gate, self.version))
        return {"predictions": records}

    async def explain(self, request: Request, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Which words pushed each text towards its top class (or `parameters.target`)."""
        return await self.blocking(self._explain, request)

    def _explain(self, request: Request) -> dict[str, Any]:
        target = request.parameters.get("target")
        method = request.parameters.get("method")
        tops = self.classifier.predict_texts(request.texts).argmax(axis=1)  # (N,)
        indices = [int(top) if target is None else self.classifier.index(target) for top in tops]
        answers = [self.explainer.explain(t, i, method) for t, i in zip(request.texts, indices, strict=True)]
        return {"explanations": [a.to_dict() for a in answers]}
