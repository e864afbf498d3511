"""Connection URLs: one database per tool on one server, embedded or external."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from aiprime.errors import ConfigError

#: Each tool gets its own database, because MLflow, Dagster and our schema each keep an `alembic_version`.
DATABASES = ("aiprime", "mlflow", "dagster", "feast")


def parse_url(url: str) -> URL:
    """Parse an SQLAlchemy URL, forcing the psycopg 3 driver; raise ConfigError naming the setting."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError(
            f"AIPRIME_DATABASE_URL={url!r} is not a database URL. "
            "Use the form postgresql+psycopg://USER:PASSWORD@HOST:5432/aiprime, or unset it for the embedded one."
        ) from e
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"AIPRIME_DATABASE_URL names a {parsed.get_backend_name()!r} database; AI Prime needs PostgreSQL "
            "with pgvector (postgresql+psycopg://...)."
        )
    return parsed.set(drivername="postgresql+psycopg")


def database_url(server_url: str, database: str) -> str:
    """The URL of `database` on the server that `server_url` points at."""
    return parse_url(server_url).set(database=database).render_as_string(hide_password=False)
