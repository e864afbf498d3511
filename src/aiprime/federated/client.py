"""One simulated organisation: it trains the heads on its own share and sends back its weights.

A client can be told to misbehave (`FederatedConfig.faults`) in one round, so tests and the bench can show what
the server does with it: send NaNs, weights of another shape, a model of another version, never answer, or
drop out of SecAgg+ after the masks are set up. Runs inside the federated venv (flwr).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from flwr.client import NumPyClient
from flwr.common import Context, Message
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage

from aiprime.federated.config import FederatedConfig, share_path
from aiprime.federated.fitting import LocalConfig, train_local
from aiprime.federated.heads import Task, get_weights, new_heads, set_weights


def corrupt(weights: list[np.ndarray], fault: str) -> list[np.ndarray]:
    """`weights` as a faulty client would send them."""
    if fault == "nan":
        return [np.full_like(w, np.nan) for w in weights]
    if fault == "shape":
        return [w[..., :-1] for w in weights]
    return weights


class Organisation(NumPyClient):
    """A client that fits the heads on its share for `config.local_epochs` per round."""

    def __init__(self, partition: int, work: Path, config: FederatedConfig) -> None:
        self.partition, self.work, self.config = partition, Path(work), config
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
        weights = self.train(parameters, server_round)
        if self.config.record_dir:
            record = Path(self.config.record_dir) / f"client-{self.partition}-round-{server_round}.npy"
            np.save(record, np.concatenate([w.ravel() for w in weights]))
        version = "another-model@0" if fault == "version" else config["model_version"]
        examples = 1 if self.config.private else len(self.share.y["train"])  # DP: equal weights
        return corrupt(weights, fault), examples, {"model_version": version, "partition": self.partition}

    def train(self, parameters: list[np.ndarray], server_round: int) -> list[np.ndarray]:
        """The heads after local training from `parameters`."""
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
        train_local(model, self.share.x["train"], self.share.y["train"], local)
        return get_weights(model)


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
