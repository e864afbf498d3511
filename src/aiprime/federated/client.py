"""One simulated organisation: it trains the heads on its own share and sends back its weights.

With per-record DP (`dp_unit` "record"), each organisation trains with DP-SGD (Opacus) and keeps its own budget:
its accountant's state (`privacy-<partition>.json` in the run's folder) survives the rounds, a round that
would pass the budget is refused (the round goes on without that client), and each reply reports the epsilon
spent and whether another round still fits.

A client can be told to misbehave (`FederatedConfig.faults`) in one round, so tests and the bench can show what
the server does with it: send NaNs, weights of another shape, a model of another version, never answer, or
drop out of SecAgg+ after the masks are set up. Runs inside the federated venv (flwr).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from flwr.client import NumPyClient
from flwr.common import Context, Message
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage

from aiprime.errors import InvalidInput
from aiprime.federated.config import FederatedConfig, share_path
from aiprime.federated.fitting import LocalConfig, train_local, train_private
from aiprime.federated.heads import Task, get_weights, new_heads, set_weights
from aiprime.federated.privacy import RecordAccountant, record_plan


def corrupt(weights: list[np.ndarray], fault: str) -> list[np.ndarray]:
    """`weights` as a faulty client would send them."""
    if fault == "nan":
        return [np.full_like(w, np.nan) for w in weights]
    if fault == "shape":
        return [w[..., :-1] for w in weights]
    return weights


class Organisation(NumPyClient):
    """A client that fits the heads on its share for `config.local_epochs` per round."""

    def __init__(self, partition: int, work: Path, config: FederatedConfig, delta: float = 0.0) -> None:
        self.partition, self.work, self.config, self.delta = partition, Path(work), config, delta
        self.share = Task.load(share_path(work, partition))

    def fault(self, server_round: int) -> str:
        """What this client does wrong in `server_round` ('' when it behaves)."""
        if server_round != self.config.fault_round:
            return ""
        return self.config.faults.get(str(self.partition), "")

    def fit(self, parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
        """Train from the server's weights; the new weights, this client's weight in the average, metrics."""
        server_round = int(config["server_round"])
        fault = self.fault(server_round)
        if fault == "silent":
            time.sleep(3 * self.config.round_timeout)  # answers only after the server stopped waiting
        if fault == "dropout" and not self.config.secagg:
            raise ConnectionError(f"organisation {self.partition} dropped out")
        weights, privacy = self.train(parameters, server_round)
        if self.config.record_dir:
            record = Path(self.config.record_dir) / f"client-{self.partition}-round-{server_round}.npy"
            np.save(record, np.concatenate([w.ravel() for w in weights]))
        version = "another-model@0" if fault == "version" else config["model_version"]
        examples = 1 if self.config.private else len(self.share.y["train"])  # DP: equal weights
        metrics = {"model_version": version, "partition": self.partition, **privacy}
        return corrupt(weights, fault), examples, metrics

    def train(self, parameters: list[np.ndarray], server_round: int) -> tuple[list[np.ndarray], dict]:
        """The heads after local training from `parameters`, and the privacy spent (per-record DP)."""
        torch.set_num_threads(1)
        model = new_heads(self.share, self.config.seed)
        set_weights(model, parameters)
        local = LocalConfig(
            epochs=self.config.local_epochs,
            lr=self.config.lr,
            batch_size=self.config.batch_size,
            proximal_mu=self.config.proximal_mu if self.config.strategy == "fedprox" else 0.0,
            seed=self.config.seed * 1000 + server_round * 100 + self.partition,
        )
        if not self.config.record_private:
            train_local(model, self.share.x["train"], self.share.y["train"], local)
            return get_weights(model), {}
        accountant = self.accountant()
        if not accountant.can_run_round():
            raise InvalidInput(
                f"organisation {self.partition}'s privacy budget is spent (epsilon "
                f"{accountant.spent()['epsilon']:.3f} of {self.config.dp_epsilon}): it trains no more rounds"
            )
        train_private(model, self.share.x["train"], self.share.y["train"], local, accountant.plan)
        accountant.run_round()
        plan = accountant.plan
        self.accountant_file().write_text(
            json.dumps({"steps": accountant.steps, "noise": plan.noise_multiplier})
        )
        spent = {
            **accountant.spent(),
            "steps": accountant.steps,
            "rows": plan.rows,
            "noise": plan.noise_multiplier,
        }
        return get_weights(model), {**spent, "budget_left": accountant.can_run_round()}

    def accountant_file(self) -> Path:
        """Where this organisation's accountant keeps its state between rounds."""
        return self.work / f"privacy-{self.partition}.json"

    def accountant(self) -> RecordAccountant:
        """This organisation's per-record accountant, restored from the rounds before (its steps, and the noise
        its first round calibrated: a search of a few seconds)."""
        c, file = self.config, self.accountant_file()
        state = json.loads(file.read_text()) if file.is_file() else {"steps": 0, "noise": c.dp_noise}
        plan = record_plan(len(self.share.y["train"]), c.batch_size, c.local_epochs, c.rounds, c.dp_clip,
                           c.dp_epsilon, self.delta, state["noise"])  # fmt: skip
        return RecordAccountant(plan, c.dp_epsilon, self.delta, state["steps"])


def dropout_mod(config: FederatedConfig):
    """A client mod that makes the 'dropout' clients fail SecAgg+'s masked-vector stage in `fault_round`."""
    dropped = {int(p) for p, fault in config.faults.items() if fault == "dropout"}

    def mod(msg: Message, context: Context, call_next):
        stage = msg.content.config_records.get(RECORD_KEY_CONFIGS, {}).get(Key.STAGE)
        partition = int(context.node_config["partition-id"])
        if (
            stage == Stage.COLLECT_MASKED_VECTORS
            and partition in dropped
            and msg.metadata.group_id == str(config.fault_round)
        ):
            raise ConnectionError(f"organisation {partition} dropped out after the SecAgg+ setup")
        return call_next(msg, context)

    return mod
