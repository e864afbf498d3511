"""Database URLs, the per-tool databases, and the Alembic-managed schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from aiprime.db.engine import connect, current_revisions, ensure_databases, head_revisions, migrate
from aiprime.db.urls import DATABASES, database_url, parse_url
from aiprime.errors import ConfigError, ServiceUnavailable


@pytest.mark.parametrize("bad", ["not a url", "sqlite:///x.db", "mysql://u@h/db"])
def test_a_wrong_database_url_names_the_setting_and_the_form(bad: str) -> None:
    with pytest.raises(ConfigError, match="AIPRIME_DATABASE_URL"):
        parse_url(bad)


def test_the_psycopg3_driver_is_forced_and_the_database_swapped() -> None:
    url = database_url("postgresql://u:secret@db.example:5432/postgres", "mlflow")
    assert url == "postgresql+psycopg://u:secret@db.example:5432/mlflow"


def test_an_unreachable_server_says_what_to_check() -> None:
    with pytest.raises(ServiceUnavailable, match="Check AIPRIME_DATABASE_URL") as info:
        connect("postgresql://nobody:pw@127.0.0.1:1/aiprime")
    assert "pw" not in str(info.value)  # the password is never echoed


def test_databases_are_created_once_and_migrations_are_idempotent(pg_server_url: str) -> None:
    ensure_databases(pg_server_url)
    ensure_databases(pg_server_url)
    with connect(pg_server_url).connect() as conn:
        names = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    assert set(DATABASES) <= names
    url = database_url(pg_server_url, "aiprime")
    migrate(url)
    migrate(url)
    assert current_revisions(url) == head_revisions()
    with connect(url).connect() as conn:
        assert conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname='vector'")).scalar()
        assert sa.inspect(conn).has_table("dataset_versions")
