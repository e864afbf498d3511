"""Stand-ins for AI Prime's MoE model servers as real `kserve.Model`s, served by KServe's REST server.

They honour the contract of `kserve/graphs/README.md` with fixed arithmetic, so the shipped graphs can be
run end to end: the gate routes each request as its first instance's `route`/`probs` hints say (and, with a
`confident` hint, says whether it is sure, as a calibrated gate does).

Run: `python moe_models.py PORT` (serves gate, every registered expert and the combiner on 127.0.0.1:PORT).
"""

from __future__ import annotations

import sys
from typing import Any

import kserve
from kserve.protocol.rest.server import RESTServer

from aiprime.moe.experts import EXPERTS as REGISTRY
from aiprime.serving.graph.combine import combine_top2
from aiprime.serving.names import route_name

EXPERTS = tuple(route_name(spec.domain) for spec in REGISTRY)


class Gate(kserve.Model):
    """Answers the gate's v1 response; the choice comes from the first instance's hints."""

    def __init__(self) -> None:
        super().__init__("gate")
        self.ready = True

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        instances = payload["instances"]
        hints = instances[0] if instances and isinstance(instances[0], dict) else {}
        route = hints.get("route", ["abstractions", "actions"])
        probabilities = hints.get("probs", [0.6, 0.4])
        record = {
            "instances": instances,
            "expert": route[0],
            "experts": route,
            "probabilities": probabilities,
        }
        sure = {"confident": hints["confident"]} if "confident" in hints else {}
        return {"predictions": [record | sure]}


class Expert(kserve.Model):
    """Scores its own label 1.0, echoes the gate's probability for itself and carries the instances on."""

    def __init__(self, short_name: str) -> None:
        super().__init__(f"expert-{short_name}")
        self.short_name = short_name
        self.ready = True

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        return {"predictions": [self._answer(record) for record in payload["predictions"]]}

    def _answer(self, record: dict[str, Any]) -> dict[str, Any]:
        experts, probabilities = record["experts"], record["probabilities"]
        probability = probabilities[experts.index(self.short_name)] if self.short_name in experts else 0.0
        return {"expert": self.short_name, "probability": probability, "scores": {self.short_name: 1.0},
                "instances": record["instances"]}  # fmt: skip


class Combiner(kserve.Model):
    """The top-2 combiner: `aiprime.serving.graph.combine.combine_top2`."""

    def __init__(self) -> None:
        super().__init__("combiner")
        self.ready = True

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        return combine_top2(payload)


def main(port: int) -> None:
    """Serve every stand-in on 127.0.0.1:`port` with KServe's REST server (no gRPC)."""
    server = kserve.ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False)
    for model in (Gate(), *(Expert(name) for name in EXPERTS), Combiner()):
        server.register_model(model)
    rest = RESTServer(
        "kserve.model_server:app",
        server.dataplane,
        server.model_repository_extension,
        port,
        timeout_keep_alive=65,
    )
    rest.config.host = "127.0.0.1"  # KServe binds 0.0.0.0; these tests stay on loopback
    rest.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
