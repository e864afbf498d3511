"""The server's strategy: FedAvg or FedProx, behind a guard that refuses bad updates and spends the budget.

The guard checks every client's reply before anything is averaged: the weights' count and shapes, that every
value is finite, and the model version the client says it trained. A reply that fails is left out of the round
(named in the round's record), so the round goes on with the others; when none is left, the model stays as it
was. Under SecAgg+ the server only ever sees the sum, so the guard checks the aggregate instead and discards
a round whose aggregate is not finite or holds a refused client's update (a masked update cannot be taken
out of the sum). With a central privacy budget, a round is released only while the accountant
says it fits, and training stops when it no longer does. With per-record DP each organisation accounts its own
budget: the guard keeps what each one reports and stops training once none has a round left. Runs inside the
federated venv (flwr).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.common import FitRes, Parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy

from aiprime.federated.privacy import Accountant


@dataclass
class RoundLog:
    """What the guard saw in each round: accepted and refused clients, the budget after it."""

    rounds: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    record_privacy: dict[int, dict[str, Any]] = field(default_factory=dict)  # partition -> last report

    def current(self, server_round: int) -> dict[str, Any]:
        """The record of `server_round`, created on first use."""
        if not self.rounds or self.rounds[-1]["round"] != server_round:
            self.rounds.append({"round": server_round, "accepted": [], "refused": [], "failures": 0})
        return self.rounds[-1]


def why_refused(weights: list[np.ndarray], shapes: list[tuple[int, ...]], metrics: dict, version: str) -> str:
    """Why a client's reply is refused ('' when it is fine)."""
    if metrics.get("model_version") != version:
        return f"model version {metrics.get('model_version')!r}, expected {version!r}"
    got = [tuple(w.shape) for w in weights]
    if got != shapes:
        return f"weights of shapes {got}, expected {shapes}"
    if not all(np.isfinite(w).all() for w in weights):
        return "non-finite values (NaN or inf) in the weights"
    return ""


class GuardedStrategy(Strategy):
    """Wraps a Flower strategy: validates replies, keeps the model on an empty round, spends the budget."""

    def __init__(
        self,
        inner: Strategy,
        shapes: list[tuple[int, ...]],
        version: str,
        accountant: Accountant | None = None,
        secure: bool = False,
    ) -> None:
        super().__init__()
        self.inner, self.shapes, self.version = inner, shapes, version
        self.accountant, self.secure = accountant, secure
        self.log = RoundLog()
        self.current: Parameters | None = None

    def __repr__(self) -> str:
        return f"GuardedStrategy({self.inner!r})"

    def initialize_parameters(self, client_manager: Any) -> Parameters | None:
        """The inner strategy's initial parameters."""
        self.current = self.inner.initialize_parameters(client_manager)
        return self.current

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        """The inner strategy's clients and instructions, plus the model version; none once the budget is spent."""
        self.current = parameters
        if self.records_spent():
            self.log.stop_reason = self.log.stop_reason or (
                f"per-record privacy budgets spent: epsilon up to {self.record_epsilon():.3f} in the "
                f"{len(self.log.record_privacy)} organisations; none has a round left"
            )
            return []
        if self.accountant is not None and not self.accountant.can_release():
            spent = self.accountant.spent()
            self.log.stop_reason = self.log.stop_reason or (
                f"privacy budget spent: epsilon {spent['epsilon']:.3f} after {self.accountant.rounds} rounds; "
                f"one more would pass the budget {self.accountant.budget.epsilon}"
            )
            return []
        instructions = self.inner.configure_fit(server_round, parameters, client_manager)
        self.log.current(server_round)["asked"] = len(instructions)
        for _, ins in instructions:
            ins.config.update({"model_version": self.version, "server_round": server_round})
        return instructions

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list,
    ) -> tuple[Parameters | None, dict]:
        """Aggregate the replies that pass `why_refused`; the current model when none does."""
        record = self.current_round(server_round, results, failures)
        accepted = self.accept(results, record)
        if not accepted or (self.secure and record["refused"]):  # a masked bad update cannot be taken out
            record["kept_model"] = True
            return self.current, {}
        parameters, metrics = self.inner.aggregate_fit(server_round, accepted, [])
        if parameters is None or not all(np.isfinite(a).all() for a in parameters_to_ndarrays(parameters)):
            record["kept_model"] = True  # e.g. SecAgg+'s aggregate of a bad update
            return self.current, {}
        if self.accountant is not None:
            self.accountant.release()
            record.update(self.accountant.spent())
        return parameters, metrics

    def current_round(self, server_round: int, results: list, failures: list) -> dict[str, Any]:
        """This round's record, with the clients that failed and those that did not answer in time."""
        record = self.log.current(server_round)
        record["failures"] = len(failures)
        # SecAgg+ lists a dropped client's error twice (Flower 1.41), hence at least 0
        record["no_reply"] = max(0, record.get("asked", 0) - len(results) - len(failures))
        return record

    def accept(self, results: list[tuple[ClientProxy, FitRes]], record: dict[str, Any]) -> list:
        """The replies that pass the checks; the others named in `record`."""
        accepted = []
        for proxy, res in results:
            partition = res.metrics.get("partition", -1)
            reason = why_refused(
                parameters_to_ndarrays(res.parameters), self.shapes, res.metrics, self.version
            )
            if reason and not (self.secure and reason.startswith("non-finite")):
                record["refused"].append({"partition": partition, "reason": reason})
                continue
            record["accepted"].append(partition)
            accepted.append((proxy, res))
            if "epsilon" in res.metrics:  # per-record DP: the organisation's own accountant
                self.log.record_privacy[partition] = dict(res.metrics)
        if any("epsilon" in res.metrics for _, res in accepted):
            record["epsilon"] = self.record_epsilon()
        return accepted

    def record_epsilon(self) -> float:
        """The largest epsilon an organisation has spent under per-record DP (0 before any report)."""
        return max((float(m["epsilon"]) for m in self.log.record_privacy.values()), default=0.0)

    def records_spent(self) -> bool:
        """Whether every organisation that reported a per-record budget has no round left."""
        reports = self.log.record_privacy.values()
        return bool(reports) and not any(m["budget_left"] for m in reports)

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        """No client-side evaluation: the server scores the model on the validation split."""
        return []

    def aggregate_evaluate(self, server_round: int, results: list, failures: list) -> tuple[None, dict]:
        """Nothing to aggregate (no client-side evaluation)."""
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict] | None:
        """The inner strategy's server-side evaluation."""
        return self.inner.evaluate(server_round, parameters)
