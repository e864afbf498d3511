"""A login role per tool: MLflow, Dagster and Feast each own their database and nothing else.

`provision` (run by `aiprime.db.engine.ensure_databases`, wherever the databases are created) creates the
roles `aiprime_mlflow`, `aiprime_dagster` and `aiprime_feast` (LOGIN, no other attribute, no password), gives
each what an older release created in its database as the platform's user, makes it the owner of the
database and takes CONNECT on it from PUBLIC, so no other role (the gateway's, another tool's) may even
connect; the platform's own user keeps access as superuser, or, on a server where it is not one (RDS), as a
member of each role. Once a tool's role owns its database nothing is changed again (`unprovisioned` is one
query), so processes that only use the databases need no CREATEROLE. The `aiprime` database is not theirs:
they hold no privilege on its tables.

On a server that asks for passwords, set each role's once as an administrator (`ALTER ROLE aiprime_mlflow
PASSWORD '...'`) and put it in the pgpass file of whoever starts the tool (`aiprime.db.urls.tool_db_url`
carries no password; a cluster's tools get theirs from their Secrets): docs/runbook.md, "Database roles".
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aiprime.db.urls import TOOL_ROLES

_CREATE_ROLE = """
DO $$ BEGIN
  CREATE ROLE {role} LOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- there already, or created meanwhile
END $$
"""
# Relations first (a table takes its own sequences and indexes along), then free-standing sequences and
# the schemas and types the tool created; system schemas are left alone.
_HAND_OVER = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> '{role}'::regrole
        AND n.nspname !~ '^(pg_|information_schema$)'
  LOOP EXECUTE format('ALTER TABLE %s OWNER TO {role}', r.name); END LOOP;
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'S' AND c.relowner <> '{role}'::regrole AND n.nspname !~ '^(pg_|information_schema$)'
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
  LOOP EXECUTE format('ALTER SEQUENCE %s OWNER TO {role}', r.name); END LOOP;
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspowner <> '{role}'::regrole
      AND nspname !~ '^(pg_|information_schema$|public$)'
  LOOP EXECUTE format('ALTER SCHEMA %I OWNER TO {role}', r.nspname); END LOOP;
  FOR r IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('e', 'd', 'r') AND t.typowner <> '{role}'::regrole
        AND n.nspname !~ '^(pg_|information_schema$)'
  LOOP EXECUTE format('ALTER TYPE %s OWNER TO {role}', r.name); END LOOP;
END $$
"""


def unprovisioned(conn: Connection) -> list[str]:
    """The tools whose database their role does not own yet (none, once provisioned: nothing to change)."""
    owners = dict(
        conn.execute(
            sa.text("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY(:names)"),
            {"names": list(TOOL_ROLES)},
        ).all()
    )
    return [tool for tool, role in TOOL_ROLES.items() if owners.get(tool) != role]


def provision(conn: Connection, tool: str, open_database: Callable[[str], Engine]) -> None:
    """Give `tool`'s database, and what is in it, to the tool's role (created here), alone in it.

    Args:
        conn: an autocommit connection to the server as the platform's user.
        tool: mlflow, dagster or feast.
        open_database: an engine on a database of the same server as the same user, by name.
    """
    role = TOOL_ROLES[tool]
    conn.execute(sa.text(_CREATE_ROLE.format(role=role)))
    if not conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
        conn.execute(sa.text(f"GRANT {role} TO CURRENT_USER"))  # to hand it over, and to reach it for backups
    engine = open_database(tool)
    with engine.begin() as tool_conn:
        tool_conn.execute(sa.text(_HAND_OVER.format(role=role)))
    engine.dispose()
    conn.execute(sa.text(f'ALTER DATABASE "{tool}" OWNER TO {role}'))  # last: marks the tool provisioned
    conn.execute(sa.text(f'REVOKE ALL ON DATABASE "{tool}" FROM PUBLIC'))
