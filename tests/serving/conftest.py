"""One real serving stack for the session: tiny real models in a real MLflow, served by `aiprime serve --detach`.

The models are trained here on a few hundred real glosses (`aiprime.serving.smoke`), registered as the
`champion` of each role, and every server loads its own from MLflow. The stack (gate, six experts,
combiner, router on top1.yaml) runs with spans written to files and each expert limited to
`MAX_IN_FLIGHT` requests. Tests marked `stops_stack` run last: they stop it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from _helpers import free_port
from _helpers.processes import ModelServerProcess

from aiprime.serving import launcher, smoke
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
MAX_IN_FLIGHT = 2  # each expert's limit in the stack (the overflow test exceeds it)
START_TIMEOUT_S = 420


def pytest_configure(config: pytest.Config) -> None:
    """Register the `stops_stack` marker."""
    config.addinivalue_line("markers", "stops_stack: stops the session's serving stack; runs last")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests that stop the stack to the end of the session."""
    items.sort(key=lambda item: item.get_closest_marker("stops_stack") is not None)


@dataclass(frozen=True)
class Served:
    """The running stack, as a test sees it."""

    home: Path  # AIPRIME_HOME of the stack
    env: dict[str, str]  # the environment `aiprime` runs with
    stack: launcher.Stack  # endpoints
    models: dict[str, Path]  # service name -> the folder trained here
    aware_gate: ModelServerProcess  # a second gate, load-aware, that sees expert-living as down

    @property
    def services(self) -> dict[str, str]:
        """serviceName -> predict URL."""
        return self.stack.services()

    def base(self, name: str) -> str:
        """scheme://host:port of a server."""
        return self.services[name].split("/v1/")[0]

    def aiprime(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run `aiprime ARGS` against this stack."""
        return aiprime(*args, env=self.env, timeout=timeout)

    def spans(self, name: str) -> list[dict]:
        """The spans a server has written so far."""
        path = self.home / "serving" / "traces" / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def aiprime(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the `aiprime` command of this venv from the repository root."""
    command = [str(Path(sys.executable).with_name("aiprime")), *args]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def tiny_models(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The gate and six experts, trained on real glosses and registered in MLflow as `champion`."""
    try:
        table = smoke.classification_table(REPO / smoke.SPLIT_FILE)
    except Exception as e:  # noqa: BLE001 - any missing source means: no data to train on here
        pytest.skip(f"no gloss data to train tiny models on: {e}")
    out = tmp_path_factory.mktemp("tiny-models")
    with ThreadPoolExecutor(max_workers=1) as pool:  # train while PostgreSQL and MLflow start
        training = pool.submit(
            smoke.train_tiny, smoke.sample_glosses(table), out / "models", out / "embeddings"
        )
        mlflow_url = request.getfixturevalue("mlflow_url")
        folders = training.result()
    smoke.register_champions(mlflow_url, folders)
    return folders


@pytest.fixture(scope="session")
def served(
    tiny_models: dict[str, Path], mlflow_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The stack of `aiprime serve --detach`, loading every model from MLflow; stopped at the end."""
    home = tmp_path_factory.mktemp("serve-home")
    env = {
        **os.environ,
        "AIPRIME_HOME": str(home),
        "AIPRIME_MLFLOW_TRACKING_URI": mlflow_url,
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }
    aware = _aware_gate(home, env)  # starts loading beside the stack: both wait on the same CPUs
    try:
        result = aiprime("serve", "--detach", "--port", str(free_port()), "--trace", "--max-in-flight",
                         str(MAX_IN_FLIGHT), env=env, timeout=START_TIMEOUT_S)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        stack = launcher.running(Settings(home=home, _env_file=None))
        assert stack is not None, result.stdout
        aware.wait_ready()
        yield Served(home, env, stack, tiny_models, aware)
    finally:
        aware.stop()
        aiprime("serve", "stop", env=env)
        aiprime("services", "down", env=env)  # the PostgreSQL the deployment tests' gateway started here


def _aware_gate(home: Path, env: dict[str, str]) -> ModelServerProcess:
    """A load-aware gate whose services mapping points expert-living at a port nothing listens on."""
    services = home / "aware-services.yaml"
    services.write_text(f"expert-living: http://127.0.0.1:{free_port()}/v1/models/expert-living:predict\n")
    args = ["--load_aware", "--services", str(services), "--poll_interval_s", "0.2"]
    return ModelServerProcess("gate", args, home / "aware-gate.log", env=env, ready_timeout_s=START_TIMEOUT_S)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: a model server that is down."""
    return free_port()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """A pooled HTTP client with room for explanations on a busy machine."""
    with httpx.Client(timeout=120) as client:
        yield client
