"""Connection URLs: one database per tool on one server, embedded or external.

This is where the library learns a URL: `server_url` and `app_db_url` read the settings (and, for the
embedded server, its pid file) and never start anything. Starting the embedded server is the edges' job
(`aiprime services up`, the CLI and Dagster's resources through `aiprime.services.stack`).
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from aiprime.db import embedded
from aiprime.errors import ConfigError, ServiceUnavailable
from aiprime.settings import Settings

#: Each tool gets its own database, because MLflow, Dagster and our schema each keep an `alembic_version`.
DATABASES = ("aiprime", "mlflow", "dagster", "feast")
#: The login role that owns each tool's database and connects to it (`aiprime.db.roles`).
TOOL_ROLES = {"mlflow": "aiprime_mlflow", "dagster": "aiprime_dagster", "feast": "aiprime_feast"}


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


def tool_db_url(server_url: str, tool: str) -> str:
    """The URL of `tool`'s database (mlflow, dagster, feast) as its own role, on the server of `server_url`.

    The URL carries no password: the embedded server trusts its socket, and on a server that asks for one,
    libpq (which MLflow, Dagster and Feast all connect through) finds it in the pgpass file (PGPASSFILE,
    default ~/.pgpass), so the platform's own password is never handed to a tool.
    """
    server = parse_url(server_url)
    url = URL.create(server.drivername, TOOL_ROLES[tool], None, server.host, server.port, tool, server.query)
    return url.render_as_string(hide_password=False)


def server_url(settings: Settings) -> str:
    """The URL of the PostgreSQL server's `postgres` database: AIPRIME_DATABASE_URL's, or the running embedded one's.

    Raises:
        ServiceUnavailable: the embedded server is not running (nothing here starts it).
    """
    if settings.database_url:
        return database_url(settings.database_url, "postgres")
    url = embedded.running_url(settings.pg_dir)
    if url is None:
        raise ServiceUnavailable(
            "The embedded PostgreSQL is not running. Start it with `aiprime services up`."
        )
    return url


def app_db_url(settings: Settings) -> str:
    """The URL of the `aiprime` database (the schema Alembic manages) on the server of `server_url`."""
    return database_url(server_url(settings), "aiprime")
