"""The top-2 combiner's KServe model: the Ensemble's two expert answers in, their weighted sum out.

Input (kserve/graphs/top2.yaml): `{"first": <expert response>, "second": <expert response>}`. Output:
`{"predictions": [{"experts": [...], "weights": [...], "scores": {...}}]}`, the arithmetic of
`aiprime.serving.graph.combine.combine_top2` (weights are the gate's probabilities, renormalised over the
branches that answered). v1 only: the input is a graph's JSON, not a tensor.
"""

from __future__ import annotations

from typing import Any

from kserve import InferRequest

from aiprime.errors import InvalidInput
from aiprime.serving.base_server import ServingModel
from aiprime.serving.graph.combine import combine_top2


class CombinerModel(ServingModel):
    """Weights the first and second choices' scores by the gate's probabilities."""

    def load(self) -> bool:
        """Nothing to load: the combiner is arithmetic."""
        self.ready = True
        return self.ready

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Accept the Ensemble's v1 JSON only."""
        if isinstance(payload, InferRequest) or not isinstance(payload, dict):
            raise InvalidInput(
                "The combiner takes the top-2 Ensemble's v1 JSON, {'first': ..., 'second': ...}, at "
                f"/v1/models/{self.name}:predict; v2 tensors have no meaning here."
            )
        return payload

    async def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The probability-weighted sum of the branches' scores."""
        return combine_top2(payload)
