"""Shared fixtures: one real embedded PostgreSQL for the session, free ports, isolated settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiprime.db import embedded
from aiprime.settings import Settings


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the `postgres` database on a real embedded PostgreSQL 18 + pgvector, stopped after the session."""
    pg_dir = tmp_path_factory.mktemp("pg") / "pg"
    url = embedded.start_embedded(pg_dir)
    yield url
    embedded.stop_embedded(pg_dir)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose state folder is this test's tmp_path and whose MLflow port is free."""
    return Settings(home=tmp_path / "home", mlflow_port=free_port(), _env_file=None)
