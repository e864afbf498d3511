"""The main venv's side of federated training: write the task, run the federated venv, read its result.

Flower 1.41 caps typer, rich and packaging below the versions the CLI pins, so flwr lives in its own venv
(`.venv-federated`, `make federated`). This module never imports flwr: it embeds the classification data with
the cached MiniLM embeddings (`aiprime.moe.dataset`), writes `task.npz` and `config.json` into a work folder,
runs `python -m aiprime.federated.simulate WORK` with the federated venv's Python (PYTHONPATH=src), and reads
`result.json` and `model.npz` back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.errors import ConfigError, InvalidInput, StageFailed
from aiprime.federated.config import CONFIG_FILE, MODEL_FILE, RESULT_FILE, TASK_FILE, FederatedConfig
from aiprime.federated.heads import Heads, Task, load_heads
from aiprime.federated.simulate import BAD_SETTINGS

SOURCE = Path(__file__).resolve().parents[2]  # src/, put on the federated venv's PYTHONPATH
VENV = SOURCE.parent / ".venv-federated"


def task_from_splits(splits: dict) -> Task:
    """A `Task` from `aiprime.moe.dataset.build_splits`' splits: classes grouped by domain, in expert order."""
    from aiprime.moe.dataset import fine_classes

    per_domain = fine_classes()
    domains = tuple(per_domain)
    classes = tuple(c for d in domains for c in per_domain[d])
    domain_of_class = np.array([domains.index(d) for d in domains for _ in per_domain[d]], dtype=np.int64)
    index = {c: i for i, c in enumerate(classes)}
    return Task(
        {name: split.x for name, split in splits.items()},
        {name: np.array([index[c] for c in split.lexname], dtype=np.int64) for name, split in splits.items()},
        classes,
        domains,
        domain_of_class,
    )


def load_task(root: Path, cache_dir: Path, limit: int = 0) -> tuple[Task, str]:
    """The checkout's classification task (embedded, from the cache where it can) and its data version."""
    from aiprime.moe.dataset import build_splits

    splits, version = build_splits(Path(root), Path(cache_dir), limit)
    return task_from_splits(splits), version


def federated_python(venv: Path = VENV) -> Path:
    """The federated venv's Python; ConfigError naming `make federated` when it is not built."""
    python = Path(venv) / "bin" / "python"
    if not python.is_file():
        raise ConfigError(f"The federated venv {venv} is missing. Build it with `make federated`.")
    return python


@dataclass(frozen=True)
class FederatedRun:
    """A finished run: its result (scores, rounds, privacy spent) and its model."""

    work: Path
    result: dict

    def model(self, task: Task) -> Heads:
        """The trained heads."""
        return load_heads(self.work, task)


def run_federated(task: Task, config: FederatedConfig, work: Path, venv: Path = VENV) -> FederatedRun:
    """Train `task` federated as `config` says, in the federated venv, with `work` as its folder.

    Raises:
        ConfigError: the federated venv is not built.
        InvalidInput: the federated side refused the settings (e.g. a budget one round would spend).
        StageFailed: the simulation failed; the message holds its last lines.
    """
    python = federated_python(venv)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    task.save(work / TASK_FILE)
    config.save(work / CONFIG_FILE)
    env = {**os.environ, "PYTHONPATH": str(SOURCE), "RAY_DEDUP_LOGS": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    done = run_in_own_session([str(python), "-m", "aiprime.federated.simulate", str(work)], env)
    (work / "simulate.log").write_text(done.stdout + done.stderr)
    refused = [line for line in done.stderr.splitlines() if line.startswith(BAD_SETTINGS)]
    if refused:
        raise InvalidInput(refused[-1].removeprefix(BAD_SETTINGS))
    if done.returncode != 0 or not (work / RESULT_FILE).is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise StageFailed(
            f"Federated simulation failed (exit {done.returncode}); see {work}/simulate.log:\n{tail}"
        )
    return FederatedRun(work, json.loads((work / RESULT_FILE).read_text()))


def train_splits(splits: dict[str, Path], config: FederatedConfig, out_dir: Path, venv: Path = VENV) -> dict:
    """Train from `TaskSplit` files (the `prepare_data` step's datasets) into `out_dir`; the run's result.

    `out_dir` then holds `model.npz` and `result.json`, what `registration.register_federated` registers.
    """
    from aiprime.moe.dataset import TaskSplit

    task = task_from_splits({name: TaskSplit.load(Path(path)) for name, path in splits.items()})
    run = run_federated(task, config, Path(out_dir) / "work", venv)
    for name in (MODEL_FILE, RESULT_FILE):
        shutil.copy(run.work / name, Path(out_dir) / name)
    shutil.rmtree(run.work)  # the shares and the task: copies of the inputs
    return run.result


def run_in_own_session(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `command` in a new session and end whatever it left behind there when it exits.

    Ray's workers can outlive the driver for a while (a client still in its local fit when the server is
    done); they share the driver's session, so they go with it.
    """
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
