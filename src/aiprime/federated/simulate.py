"""Run one federated training with Flower's Ray simulation engine: `python -m aiprime.federated.simulate WORK`.

This is the federated venv's entry point (`make federated` builds `.venv-federated`; flwr's pins clash with
the main venv's CLI, see README "Federated"). `WORK` holds `config.json` (`FederatedConfig`) and `task.npz`
(`heads.Task`, written by the main venv's `aiprime.federated.runner`); the run writes each organisation's
share, then `model.npz` (the final heads) and `result.json` (per-round scores, refused clients, the privacy
spent, validation and test scores) into `WORK`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from aiprime.federated.config import (
    CONFIG_FILE,
    MODEL_FILE,
    RESULT_FILE,
    TASK_FILE,
    FederatedConfig,
    share_path,
)
from aiprime.federated.fitting import score
from aiprime.federated.heads import Task, get_weights, new_heads, set_weights, weight_shapes
from aiprime.federated.partition import dirichlet_shares, share_summary

BAD_SETTINGS = "invalid federated settings: "  # the line the runner turns back into InvalidInput


def write_shares(task: Task, config: FederatedConfig, work: Path) -> list[dict[str, int]]:
    """Split the train rows among the organisations (Dirichlet over the classes) and write each share."""
    labels = task.y["train"]
    shares = dirichlet_shares(labels, config.clients, config.alpha, config.seed)
    for partition, rows in enumerate(shares):
        Task(
            {"train": task.x["train"][rows]},
            {"train": labels[rows]},
            task.classes,
            task.domains,
            task.domain_of_class,
        ).save(share_path(work, partition))
    return share_summary(labels, shares)


def delta_for(config: FederatedConfig, task: Task) -> float:
    """The delta of the privacy statement: the config's, else 1/N for N training rows."""
    return config.dp_delta or 1.0 / len(task.y["train"])


def run(work: Path) -> dict:
    """Run the simulation configured in `work` and write its model and result there; the result."""
    from aiprime.federated.flower_apps import FlowerRun  # imports flwr and ray

    work = Path(work)
    config, task = FederatedConfig.load(work / CONFIG_FILE), Task.load(work / TASK_FILE)
    started = time.monotonic()
    shares = write_shares(task, config, work)
    flower = FlowerRun(config, task, work, delta_for(config, task))
    final = flower.run()
    model = new_heads(task, config.seed)
    set_weights(model, final)
    np.savez(work / MODEL_FILE, *get_weights(model))
    result = {
        "model_version": task.version(),
        "config": json.loads((work / CONFIG_FILE).read_text()),
        "shares": shares,
        "rounds": flower.rounds(),
        "stop_reason": flower.strategy.log.stop_reason,
        "privacy": flower.privacy(),
        "val": score(model, task.x["val"], task.y["val"]),
        "test": score(model, task.x["test"], task.y["test"]),
        "seconds": time.monotonic() - started,
        "weights": [list(s) for s in weight_shapes(model)],
    }
    (work / RESULT_FILE).write_text(json.dumps(result, indent=2, default=finite_or_none))
    return result


def finite_or_none(value: object) -> object:
    """JSON for numpy scalars; None for inf and NaN."""
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def main(argv: list[str]) -> int:
    """`python -m aiprime.federated.simulate WORK`: 0 on success; bad settings print one line, exit 2."""
    from aiprime.errors import InvalidInput

    if len(argv) != 1:
        print("usage: python -m aiprime.federated.simulate WORK", file=sys.stderr)
        return 2
    try:
        run(Path(argv[0]))
    except InvalidInput as e:
        print(f"{BAD_SETTINGS}{e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
