"""The settings of one federated run, shared as JSON between the main venv and the federated venv.

Standard library only, so both sides read the same definition: the main venv writes `config.json`, the
federated venv's `python -m aiprime.federated.simulate` reads it and writes `result.json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiprime.errors import InvalidInput

STRATEGIES = ("fedavg", "fedprox")
DP_UNITS = ("organisation", "record")  # what differential privacy protects: README "Federated"
FAULTS = ("nan", "shape", "version", "silent", "dropout")  # what a misbehaving client does (tests, bench)
CONFIG_FILE, TASK_FILE, MODEL_FILE, RESULT_FILE = (
    "config.json",
    "task.npz",
    "model.npz",
    "result.json",
)  # heads.py too


def share_path(work: Path, partition: int) -> Path:
    """The file in a run's folder holding one organisation's rows."""
    return Path(work) / f"share-{partition}.npz"


@dataclass(frozen=True)
class FederatedConfig:
    """Organisations, rounds, strategy, secure aggregation and DP of one run."""

    clients: int = 10  # simulated organisations
    alpha: float = 0.3  # Dirichlet concentration of their class shares (non-IID)
    rounds: int = 20
    strategy: str = "fedavg"  # or "fedprox"
    proximal_mu: float = 0.01  # FedProx's proximal weight
    local_epochs: int = 2
    lr: float = 0.05  # local SGD learning rate (momentum 0.9)
    batch_size: int = 256
    seed: int = 0
    secagg: bool = False  # Flower's SecAgg+ workflow
    shares: int = 5  # SecAgg+: secret shares per client
    threshold: int = 4  # SecAgg+: shares needed to reconstruct a dropped client's mask
    dp_epsilon: float = math.inf  # the DP budget, which ends training; inf is no DP
    dp_unit: str = (
        "organisation"  # central DP over clients' updates, or "record": DP-SGD in each organisation
    )
    dp_noise: float = 0.0  # noise multiplier; 0: the one that spends dp_epsilon in `rounds` rounds
    dp_clip: float = 1.0  # L2 bound on each client's update (organisation) or each row's gradient (record)
    dp_delta: float = 0.0  # 0: 1/N, N the training rows
    local_dp_epsilon: float = 0.0  # > 0: clients add Laplace noise themselves (Flower's LocalDpMod)
    round_timeout: float = 60.0  # seconds the server waits for a round's other replies after the first
    faults: dict[str, str] = field(default_factory=dict)  # partition id -> one of FAULTS
    fault_round: int = 1  # the round in which faulty clients misbehave
    record_dir: str = ""  # tests: clients and server write what they send and receive here

    def __post_init__(self) -> None:
        checks = {
            "clients": self.clients >= 2,
            "rounds": self.rounds >= 1,
            "strategy": self.strategy in STRATEGIES,
            "alpha": self.alpha > 0,
            "threshold": not self.secagg or 2 <= self.threshold <= self.shares <= self.clients,
            "dp_noise": self.dp_noise >= 0 and math.isfinite(self.dp_noise),
            "dp_clip": self.dp_clip > 0,
            "dp_epsilon": self.dp_epsilon > 0,
            "dp_unit": self.dp_unit in DP_UNITS,
            "faults": set(self.faults.values()) <= set(FAULTS),
        }
        wrong = [name for name, ok in checks.items() if not ok]
        if wrong:
            raise InvalidInput(
                f"Federated settings {wrong} are invalid ({ {n: getattr(self, n) for n in wrong} }): need >= 2 "
                f"clients and >= 1 round, strategy in {STRATEGIES}, alpha > 0, 2 <= threshold <= shares <= "
                f"clients, dp_noise >= 0, dp_clip > 0, dp_epsilon > 0, dp_unit in {DP_UNITS}, faults in {FAULTS}."
            )

    @property
    def private(self) -> bool:
        """Whether central DP is on (the organisation is the unit of privacy)."""
        return math.isfinite(self.dp_epsilon) and self.dp_unit == "organisation"

    @property
    def record_private(self) -> bool:
        """Whether each organisation trains with per-record DP-SGD (a row is the unit of privacy)."""
        return math.isfinite(self.dp_epsilon) and self.dp_unit == "record"

    def save(self, path: Path) -> Path:
        """Write the settings as JSON (an infinite budget as null)."""
        values = asdict(self)
        values["dp_epsilon"] = None if math.isinf(self.dp_epsilon) else self.dp_epsilon
        Path(path).write_text(json.dumps(values, indent=2))
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> FederatedConfig:
        """Read settings written by `save`."""
        values = json.loads(Path(path).read_text())
        values["dp_epsilon"] = math.inf if values.get("dp_epsilon") is None else values["dp_epsilon"]
        return cls(**values)
