"""Engines and the schema: connect, create the per-tool databases, run the Alembic migrations."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from aiprime.db import roles
from aiprime.db.urls import DATABASES, app_db_url, database_url, parse_url
from aiprime.errors import ConfigError, ServiceUnavailable
from aiprime.settings import Settings


def connect(url: str) -> Engine:
    """An engine for `url`, checked with one round trip; ServiceUnavailable names the host and the fix."""
    engine = sa.create_engine(parse_url(url), pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except OperationalError as e:
        where = parse_url(url).render_as_string(hide_password=True)
        raise ServiceUnavailable(
            f"Cannot connect to PostgreSQL at {where}: {str(e.orig).strip().splitlines()[0]}. "
            "Check AIPRIME_DATABASE_URL (host, port, user, password), or unset it to use the embedded server "
            "started by `aiprime services up`."
        ) from e
    return engine


def open_app_db(settings: Settings) -> Engine:
    """An engine on the `aiprime` database of the configured or running server: the one way in.

    Raises:
        ServiceUnavailable: no server runs or answers; the message says how to start or reach it.
    """
    return connect(app_db_url(settings))


def ensure_databases(server_url: str) -> None:
    """Create the per-tool databases (aiprime, mlflow, dagster, feast) that do not exist yet, and give each
    tool's database to the tool's own role (`aiprime.db.roles`)."""
    engine = connect(database_url(server_url, "postgres"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        existing = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
        for name in DATABASES:
            if name in existing:
                continue
            try:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            except ProgrammingError as e:
                raise ConfigError(
                    f"Database {name!r} does not exist and this user may not create it ({e.orig}). "
                    f"Create it once as an administrator: CREATE DATABASE {name};"
                ) from e
        for tool in roles.unprovisioned(conn):
            _provision_tool_role(conn, server_url, tool)
    engine.dispose()


def _provision_tool_role(conn: sa.Connection, server_url: str, tool: str) -> None:
    try:
        roles.provision(conn, tool, lambda name: connect(database_url(server_url, name)))
    except ProgrammingError as e:
        raise ConfigError(
            f"This user may not create the tools' database roles ({e.orig}). Run `aiprime services up` once "
            "with AIPRIME_DATABASE_URL naming a user with CREATEROLE that owns the databases mlflow, dagster "
            "and feast."
        ) from e


def migrate(url: str, revision: str = "heads") -> None:
    """Bring the AI Prime schema at `url` to `revision` with Alembic (idempotent).

    Each feature area (retrieval, gateway, ...) keeps its tables on its own branch from revision 0001, so
    the default target is every head.
    """
    config = Config()
    config.set_main_option("script_location", str(resources.files("aiprime.db") / "migrations"))
    engine = connect(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def current_revisions(url: str) -> set[str]:
    """The Alembic revisions (one per branch head) the schema at `url` is at; empty before any migration."""
    engine = connect(url)
    with engine.connect() as conn:
        has_table = sa.inspect(conn).has_table("alembic_version")
        revs = (
            set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
            if has_table
            else set()
        )
    engine.dispose()
    return revs


def head_revisions() -> set[str]:
    """Every head revision that the migrations shipped with this package define."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("aiprime.db") / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())
