"""The Flower apps of one run: the ServerApp (strategy, SecAgg+, central DP) and the ClientApp, simulated on Ray.

Runs inside the federated venv (flwr[simulation], dp-accounting, opacus).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.client import ClientApp
from flwr.client.mod import LocalDpMod, fixedclipping_mod, secaggplus_mod
from flwr.common import Context, bytes_to_ndarray, ndarrays_to_parameters
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
    FedProx,
)
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.simulation import run_simulation

from aiprime.errors import InvalidInput
from aiprime.federated.client import Organisation, dropout_mod
from aiprime.federated.config import FederatedConfig
from aiprime.federated.fitting import score
from aiprime.federated.heads import Task, get_weights, new_heads, set_weights, weight_shapes
from aiprime.federated.privacy import Accountant, PrivacyBudget, RecordAccountant, RecordPlan, noise_for
from aiprime.federated.strategy import GuardedStrategy

RAY_CPUS = 2  # this machine's cores; each simulated client takes one


class FlowerRun:
    """One simulation: builds the strategy and the apps, runs them, keeps the scores of every round."""

    def __init__(self, config: FederatedConfig, task: Task, work: Path, delta: float) -> None:
        self.config, self.task, self.work, self.delta = config, task, Path(work), delta
        self.model = new_heads(task, config.seed)
        self.scores: dict[int, dict[str, float]] = {}
        self.final = get_weights(self.model)
        self.budget = budget(config, delta) if config.private else None
        accountant = Accountant(self.budget, config.clients) if self.budget else None
        if accountant is not None and not accountant.can_release():
            raise InvalidInput(
                f"dp_epsilon {config.dp_epsilon} is spent by a single round at noise multiplier "
                f"{self.budget.noise_multiplier:.3g} (delta {delta:.3g}): raise dp_epsilon or dp_noise."
            )
        self.strategy = GuardedStrategy(
            self.private(self.base_strategy()),
            weight_shapes(self.model),
            task.version(),
            accountant,
            secure=config.secagg,
        )

    def base_strategy(self) -> FedAvg:
        """FedAvg or FedProx over every client each round, scored on the validation split by the server."""
        kind = FedProx if self.config.strategy == "fedprox" else FedAvg
        extra = {"proximal_mu": self.config.proximal_mu} if self.config.strategy == "fedprox" else {}
        return kind(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=self.config.clients,
            min_available_clients=self.config.clients,
            initial_parameters=ndarrays_to_parameters(get_weights(self.model)),
            evaluate_fn=self.evaluate,
            accept_failures=True,
            **extra,
        )

    def private(self, strategy: FedAvg) -> Any:
        """`strategy` behind Flower's central DP with fixed clipping (client-side clipping under SecAgg+)."""
        if self.budget is None:
            return strategy
        wrapper = (
            DifferentialPrivacyClientSideFixedClipping
            if self.config.secagg
            else DifferentialPrivacyServerSideFixedClipping
        )
        return wrapper(strategy, self.budget.noise_multiplier, self.budget.clipping_norm, self.config.clients)

    def evaluate(self, server_round: int, weights: list[np.ndarray], _config: dict) -> tuple[float, dict]:
        """Score the global model on the validation split after each round; keep it as the final one."""
        set_weights(self.model, weights)
        self.scores[server_round] = score(self.model, self.task.x["val"], self.task.y["val"])
        self.final = [np.array(w) for w in weights]
        return self.scores[server_round]["loss"], {"macro_f1": self.scores[server_round]["macro_f1"]}

    def server_app(self) -> ServerApp:
        """The ServerApp: Flower's default workflow, with the SecAgg+ fit workflow when configured."""
        app = ServerApp()

        @app.main()
        def main(grid: Any, context: Context) -> None:
            with_round_timeout(grid, self.config.round_timeout)
            if self.config.record_dir:
                record_received(grid, Path(self.config.record_dir))
            server = ServerConfig(num_rounds=self.config.rounds, round_timeout=self.config.round_timeout)
            legacy = LegacyContext(context, config=server, strategy=self.strategy)
            fit = self.secagg_workflow() if self.config.secagg else None
            DefaultWorkflow(fit_workflow=fit)(grid, legacy)

        return app

    def secagg_workflow(self) -> SecAggPlusWorkflow:
        """Flower's SecAgg+ with the configured shares and reconstruction threshold."""
        return SecAggPlusWorkflow(
            self.config.shares,
            self.config.threshold,
            max_weight=self.max_weight(),
            timeout=self.config.round_timeout,
        )

    def max_weight(self) -> float:
        """SecAgg+'s bound on a client's weight: 1 under DP (equal weights), else the largest share."""
        return 1.0 if self.config.private else float(len(self.task.y["train"]))

    def client_app(self) -> ClientApp:
        """The ClientApp: an `Organisation` per node, with the mods SecAgg+ and DP need."""
        config, work, delta = self.config, self.work, self.delta

        def client_fn(context: Context) -> Any:
            return Organisation(int(context.node_config["partition-id"]), work, config, delta).to_client()

        mods = [dropout_mod(config), secaggplus_mod] if config.secagg else []
        if config.private and config.secagg:
            mods.append(fixedclipping_mod)  # the server cannot clip what it cannot see
        if config.local_dp_epsilon > 0:
            mods.append(LocalDpMod(config.dp_clip, config.dp_clip, config.local_dp_epsilon, 1e-5))
        return ClientApp(client_fn=client_fn, mods=mods)

    def run(self) -> list[np.ndarray]:
        """Run the simulation; the final global weights."""
        backend = {
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": RAY_CPUS, "include_dashboard": False, "log_to_driver": False},
        }
        run_simulation(self.server_app(), self.client_app(), self.config.clients, backend_config=backend)
        return self.final

    def rounds(self) -> list[dict[str, Any]]:
        """Each round's record: accepted and refused clients, epsilon, validation scores."""
        records = {r["round"]: r for r in self.strategy.log.rounds}
        return [
            {"round": n, **records.get(n, {}), **{f"val_{k}": v for k, v in s.items()}}
            for n, s in sorted(self.scores.items())
            if n > 0
        ]

    def privacy(self) -> dict[str, Any]:
        """The budget and what was spent (central or per record), and local DP's epsilon (empty without DP)."""
        spent: dict[str, Any] = self.record_privacy() if self.config.record_private else {}
        if self.budget is not None and self.strategy.accountant is not None:
            spent = {
                "unit": "organisation",
                "noise_multiplier": self.budget.noise_multiplier,
                "clipping_norm": self.budget.clipping_norm,
                "budget_epsilon": self.budget.epsilon,
                "rounds_released": self.strategy.accountant.rounds,
                **self.strategy.accountant.spent(),
            }
        if (
            self.config.local_dp_epsilon > 0
        ):  # each round is one Laplace release per client: basic composition
            rounds = len([n for n in self.scores if n > 0])
            spent["local_epsilon_per_round"] = self.config.local_dp_epsilon
            spent["local_epsilon_total"] = self.config.local_dp_epsilon * rounds
        return spent

    def record_privacy(self) -> dict[str, Any]:
        """Per-record DP: the largest epsilon an organisation spent (Opacus's, checked with Flower's
        accountant), and each organisation's epsilon, noise and steps."""
        reports = self.strategy.log.record_privacy
        spent: dict[str, Any] = {"epsilon": 0.0, "delta": self.delta}
        if reports:
            worst = max(reports.values(), key=lambda m: m["epsilon"])
            c = self.config
            plan = RecordPlan(int(worst["rows"]), c.batch_size, c.dp_clip, float(worst["noise"]), 0)
            spent = RecordAccountant(plan, c.dp_epsilon, self.delta, int(worst["steps"])).cross_checked()
        return {
            "unit": "record",
            "budget_epsilon": self.config.dp_epsilon,
            "clipping_norm": self.config.dp_clip,
            **spent,
            "per_organisation": {
                str(p): {k: m[k] for k in ("epsilon", "noise", "steps", "rows", "budget_left")}
                for p, m in sorted(reports.items())
            },
        }


def budget(config: FederatedConfig, delta: float) -> PrivacyBudget:
    """The run's DP budget; without a noise multiplier, the one that spends the budget in `config.rounds`."""
    noise = config.dp_noise or noise_for(config.dp_epsilon, config.rounds, delta)
    return PrivacyBudget(noise, config.dp_clip, config.dp_epsilon, delta)


def with_round_timeout(grid: Any, seconds: float) -> None:
    """Make `grid` wait for the rest of a round's replies at most `seconds` after the first one arrived.

    Flower 1.41's default fit workflow passes no timeout, so one organisation that never answers would hold
    the round forever; a fixed timeout from the start would also drop every client while the simulation's
    workers are still starting (seconds to tens of seconds on a loaded machine). Counting from the first reply
    leaves out only the stragglers.
    """

    def bounded(messages: Any, *args: Any, timeout: float | None = None, **kwargs: Any) -> list:
        waiting = set(grid.push_messages(messages))
        replies: list = []
        first: float | None = None
        while waiting and (first is None or time.monotonic() - first < (timeout or seconds)):
            arrived = list(grid.pull_messages(waiting))
            waiting -= {m.metadata.reply_to_message_id for m in arrived}
            replies += arrived
            first = first or (time.monotonic() if replies else None)
            time.sleep(0.05)
        return replies

    grid.send_and_receive = bounded


def record_received(grid: Any, folder: Path) -> None:
    """Make `grid` save every vector the server receives (tests: what the server could see)."""
    folder.mkdir(parents=True, exist_ok=True)
    send_and_receive = grid.send_and_receive
    count = [0]

    def recording(messages: Any, *args: Any, **kwargs: Any) -> Any:
        replies = list(send_and_receive(messages, *args, **kwargs))
        for reply in replies:
            vectors = received_vectors(reply)
            if vectors:
                np.save(folder / f"server-{count[0]}.npy", np.concatenate(vectors))
                count[0] += 1
        return replies

    grid.send_and_receive = recording


def received_vectors(reply: Any) -> list[np.ndarray]:
    """Every numeric array in a reply: its ArrayRecords and the arrays packed as bytes in its ConfigRecords."""
    if reply.has_error():
        return []
    vectors = [
        np.asarray(a.numpy(), dtype=np.float64).ravel()
        for r in reply.content.array_records.values()
        for a in r.values()
    ]
    for record in reply.content.config_records.values():
        for value in record.values():
            items = value if isinstance(value, list) else [value]
            vectors += [
                bytes_to_ndarray(b).astype(np.float64).ravel()
                for b in items
                if isinstance(b, bytes) and b[:6] == b"\x93NUMPY"
            ]
    return vectors
