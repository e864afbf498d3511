"""Shared fixtures: one real embedded PostgreSQL for the session, free ports, isolated settings."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _helpers import free_port
from _helpers.leftovers import leftovers, mark_session
from prometheus_client import REGISTRY

from aiprime.db import embedded

# MLflow's client telemetry fails offline and races requests for an environment variable.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
SESSION_TOKEN = mark_session()  # before any test starts a process: each inherits it
from aiprime.db.engine import ensure_databases, migrate
from aiprime.db.urls import database_url
from aiprime.settings import Settings


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run, naming them, when processes a test started still run after every fixture stopped."""
    left = leftovers(SESSION_TOKEN)
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        write = getattr(session.config.pluginmanager.get_plugin("terminalreporter"), "write_line", print)
        for line in ["processes started by tests still run at the end of the session (now killed):", *left]:
            write(line)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the `postgres` database on a real embedded PostgreSQL 18 + pgvector, removed after the session.

    It lives outside pytest's temp tree: pytest resets that tree to mode 0700 during the session, and the
    server runs as the `pgserver` system user when the tests run as root.
    """
    folder = Path(tempfile.mkdtemp(prefix="aiprime-test-pg-"))
    url = embedded.start_embedded(folder / "pg")
    yield url
    embedded.stop_embedded(folder / "pg")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def app_db_url(pg_server_url: str) -> str:
    """URL of the `aiprime` database on the session's PostgreSQL, created and migrated to head."""
    ensure_databases(pg_server_url)
    url = database_url(pg_server_url, "aiprime")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def mlflow_url(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server on the session's PostgreSQL, with artifacts in a temp folder."""
    from aiprime.services import stack

    settings = Settings(
        home=tmp_path_factory.mktemp("mlflow-home"),
        database_url=pg_server_url,
        mlflow_port=free_port(),
        _env_file=None,
    )
    stack.up(settings)
    yield settings.mlflow_url
    stack.down(settings)


@pytest.fixture(scope="module")
def default_metrics_registry() -> Iterator[None]:
    """A module that uses it leaves prometheus_client's default registry as it found it: a model server's object built
    in-process (`kserve/gate/model.py`: tests/serving, tests/explain) registers its metrics there under fixed names, once per process, so a
    second module building one would find them taken."""
    before = set(REGISTRY._collector_to_names)
    yield
    for collector in set(REGISTRY._collector_to_names) - before:
        REGISTRY.unregister(collector)


@pytest.fixture(scope="module")
def fresh_mlflow_url() -> Iterator[str]:
    """A registry with no champions yet, whatever ran before: MLflow on an embedded PostgreSQL of its own,
    for a module whose tests assert what a first registration promotes.

    Its folder is outside pytest's temp tree, which pytest resets to mode 0700 while the server, running as
    the `pgserver` user, still needs to reach it.
    """
    from aiprime.services import stack

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="aiprime-test-mlflow-")), mlflow_port=free_port(),
                        _env_file=None)  # fmt: skip
    stack.up(settings)
    yield settings.mlflow_url
    stack.down(settings)
    shutil.rmtree(settings.home, ignore_errors=True)


@pytest.fixture(scope="session")
def subset_splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `splits` folder (classification, queries, documents) built from the first 150 entries of each real
    source: every domain is present, verbs and adjectives included."""
    from aiprime.data import stages

    root = tmp_path_factory.mktemp("subset")
    stages.stage_raw(Settings(_env_file=None), root / "raw", 150)
    stages.stage_processed(root / "raw", root / "processed")
    stages.stage_splits(root / "processed", root / "splits")
    return root / "splits"


@pytest.fixture(scope="session")
def embedding_cache() -> Path:
    """Embeddings keyed by the content hash of their texts, kept across runs (as pip keeps its wheels)."""
    path = Path.home() / ".cache" / "aiprime" / "embeddings"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def settings() -> Iterator[Settings]:
    """Settings with a fresh state folder and a free MLflow port.

    The folder is outside pytest's temp tree, which pytest resets to mode 0700 while the embedded server,
    running as the `pgserver` user, still needs to reach it.
    """
    home = Path(tempfile.mkdtemp(prefix="aiprime-test-home-"))
    yield Settings(home=home, mlflow_port=free_port(), _env_file=None)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def subset_checkout():
    """Builds checkouts over a subset of the real sources: `subset_checkout(root, limit) -> root`."""
    return _subset_checkout


def _subset_checkout(root: Path, limit: int) -> Path:
    """A DVC project laid out like the repository (data/ + src/ linked) over a `limit`-entry subset of the
    real sources, with its own DVC cache and remote."""
    from aiprime import versioning

    repo = Path(__file__).resolve().parents[1]
    (root / "data").mkdir(parents=True)
    shutil.copy(repo / "data" / "dvc.yaml", root / "data" / "dvc.yaml")
    (root / "data" / "params.yaml").write_text(f"limit: {limit}\n")
    (root / "src").symlink_to(repo / "src")
    versioning.dvc(root, "init", "--no-scm", "-q")
    versioning.dvc(root, "remote", "add", "-d", "local", str(root / "remote"))
    return root
