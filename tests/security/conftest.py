"""Fixtures for the security tests: a fresh, migrated database per test that needs to tamper with it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from aiprime.db.engine import connect, migrate
from aiprime.db.urls import database_url


def _admin(server_url: str, statement: str) -> None:
    engine = connect(server_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(pg_server_url: str) -> Iterator[str]:
    """The name of a database migrated to every head once, that `fresh_db` copies."""
    name = f"aiprime_tmpl_{uuid.uuid4().hex[:8]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}"')
    migrate(database_url(pg_server_url, name))  # disposes its engine: the template has no connection left
    yield name
    _admin(pg_server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db(pg_server_url: str, migrated_template: str) -> Iterator[str]:
    """URL of a new database migrated to every head, dropped afterwards (for tests that break the log)."""
    name = f"aiprime_t_{uuid.uuid4().hex[:10]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield database_url(pg_server_url, name)
    _admin(pg_server_url, f'DROP DATABASE "{name}" WITH (FORCE)')
