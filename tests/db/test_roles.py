"""Least privilege per tool, on a real PostgreSQL: MLflow, Dagster and Feast each log in as a role that owns
its database and can neither read the `aiprime` database's tables nor reach another tool's database."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.exc import OperationalError, ProgrammingError

from aiprime.db import embedded
from aiprime.db.engine import connect, ensure_databases
from aiprime.db.urls import TOOL_ROLES, database_url, parse_url, tool_db_url
from aiprime.errors import ConfigError

TOOLS = sorted(TOOL_ROLES)


def _tool(pg_server_url: str, tool: str) -> sa.Engine:
    return sa.create_engine(parse_url(tool_db_url(pg_server_url, tool)))


def test_a_tools_url_names_its_role_and_never_the_platforms_password() -> None:
    url = tool_db_url("postgresql://admin:secret@db.example:5432/postgres", "mlflow")
    assert url == "postgresql+psycopg://aiprime_mlflow@db.example:5432/mlflow"


@pytest.mark.parametrize("tool", TOOLS)
def test_each_role_owns_and_uses_its_database(app_db_url: str, pg_server_url: str, tool: str) -> None:
    engine = _tool(pg_server_url, tool)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == TOOL_ROLES[tool]
        conn.execute(sa.text("CREATE TABLE role_probe (id serial PRIMARY KEY, v text)"))
        conn.execute(sa.text("INSERT INTO role_probe (v) VALUES ('x')"))
        assert conn.execute(sa.text("SELECT v FROM role_probe")).scalar() == "x"
        conn.execute(sa.text("DROP TABLE role_probe"))
        attributes = conn.execute(
            sa.text("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).one()
    engine.dispose()
    assert tuple(attributes) == (False, False, False)


@pytest.mark.parametrize("tool", TOOLS)
def test_no_role_reaches_another_tools_database(app_db_url: str, pg_server_url: str, tool: str) -> None:
    for other in TOOLS:
        if other == tool:
            continue
        url = parse_url(tool_db_url(pg_server_url, tool)).set(database=other)
        engine = sa.create_engine(url)
        with pytest.raises(OperationalError, match="permission denied for database"):
            engine.connect()
        engine.dispose()


@pytest.mark.parametrize("tool", TOOLS)
def test_no_role_reads_the_aiprime_databases_tables(app_db_url: str, pg_server_url: str, tool: str) -> None:
    role = TOOL_ROLES[tool]
    with connect(app_db_url).connect() as conn:
        tables = (
            conn.execute(
                sa.text(
                    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
            )
            .scalars()
            .all()
        )
        readable = [
            t
            for t in tables
            if conn.execute(
                sa.text("SELECT has_table_privilege(:role, :t, 'SELECT,INSERT,UPDATE,DELETE')"),
                {"role": role, "t": t},
            ).scalar()
        ]
    assert {"gateway.audit_log", "gateway.principals"} <= set(tables)  # the migrated schema is there
    assert readable == []
    engine = sa.create_engine(parse_url(tool_db_url(pg_server_url, tool)).set(database="aiprime"))
    with engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
        conn.execute(sa.text("SELECT count(*) FROM gateway.principals"))
    engine.dispose()


def test_what_an_older_release_created_as_the_platforms_user_is_handed_to_the_tool(
    app_db_url: str, pg_server_url: str
) -> None:
    with connect(pg_server_url).begin() as conn:  # as an older release left it: the platform's user owns it
        conn.execute(sa.text('ALTER DATABASE "mlflow" OWNER TO CURRENT_USER'))
    admin = connect(database_url(pg_server_url, "mlflow"))
    with admin.begin() as conn:
        conn.execute(sa.text("CREATE TYPE legacy_state AS ENUM ('a', 'b')"))
        conn.execute(sa.text("CREATE SCHEMA legacy"))
        conn.execute(sa.text("CREATE TABLE legacy.runs (id serial PRIMARY KEY, state legacy_state)"))
        conn.execute(sa.text("CREATE SEQUENCE legacy_counter"))
    try:
        ensure_databases(pg_server_url)
        engine = _tool(pg_server_url, "mlflow")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO legacy.runs (state) VALUES ('a')"))
            conn.execute(sa.text("ALTER TYPE legacy_state ADD VALUE 'c'"))  # MLflow's migrations alter theirs
            assert conn.execute(sa.text("SELECT nextval('legacy_counter')")).scalar() == 1
            conn.execute(sa.text("DROP SCHEMA legacy CASCADE"))
            conn.execute(sa.text("DROP SEQUENCE legacy_counter"))
            conn.execute(sa.text("DROP TYPE legacy_state"))
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS legacy CASCADE"))
            conn.execute(sa.text("DROP SEQUENCE IF EXISTS legacy_counter"))
            conn.execute(sa.text("DROP TYPE IF EXISTS legacy_state"))
        admin.dispose()


def test_dagster_and_feast_are_configured_with_their_roles(
    app_db_url: str, pg_server_url: str, tmp_path
) -> None:
    from aiprime.features.store import config_values
    from aiprime.orchestration.runner import dagster_home
    from aiprime.settings import Settings

    settings = Settings(home=tmp_path, database_url=pg_server_url, _env_file=None)
    feast = config_values(settings, pg_server_url)
    assert (feast["AIPRIME_FEAST_PG_USER"], feast["AIPRIME_FEAST_PG_PASSWORD"]) == ("aiprime_feast", "")
    instance = yaml.safe_load((dagster_home(settings) / "dagster.yaml").read_text())
    url = parse_url(instance["storage"]["postgres"]["postgres_url"])
    assert (url.username, url.password, url.database) == ("aiprime_dagster", None, "dagster")


@pytest.fixture(scope="module")
def fresh_server_url() -> Iterator[str]:
    """A second embedded server, with none of the tools' databases or roles yet."""
    folder = Path(tempfile.mkdtemp(prefix="aiprime-test-roles-"))
    url = embedded.start_embedded(folder / "pg")
    yield url
    embedded.stop_embedded(folder / "pg")
    shutil.rmtree(folder, ignore_errors=True)


def test_a_platform_user_that_is_no_superuser_provisions_and_still_reaches_every_database(
    fresh_server_url: str,
) -> None:
    """As on RDS: the platform's user has CREATEDB and CREATEROLE, not superuser."""
    with connect(fresh_server_url).begin() as conn:
        conn.execute(sa.text("CREATE ROLE platform LOGIN CREATEDB CREATEROLE"))
    platform = parse_url(fresh_server_url).set(username="platform").render_as_string(hide_password=False)
    ensure_databases(platform)
    ensure_databases(platform)  # provisioned: nothing to change, nothing refused
    engine = _tool(fresh_server_url, "mlflow")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (id int)"))
        conn.execute(sa.text("INSERT INTO runs VALUES (7)"))
    engine.dispose()
    as_platform = connect(database_url(platform, "mlflow"))  # what backups read it as
    with as_platform.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM runs")).scalar() == 7
        owner = conn.execute(
            sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mlflow'")
        ).scalar()
    as_platform.dispose()
    assert owner == "aiprime_mlflow"


def test_a_platform_user_without_createrole_is_told_the_fix(fresh_server_url: str) -> None:
    with connect(fresh_server_url).begin() as conn:
        conn.execute(sa.text("CREATE ROLE weak LOGIN CREATEDB"))
        conn.execute(sa.text("ALTER DATABASE feast OWNER TO CURRENT_USER"))  # an older release's database
    weak = parse_url(fresh_server_url).set(username="weak").render_as_string(hide_password=False)
    with pytest.raises(ConfigError, match="CREATEROLE"):
        ensure_databases(weak)
