"""The agents' tables: LangGraph's checkpoint tables come from migration 0010, so the runtime never creates any."""

from __future__ import annotations

import sqlalchemy as sa
from langgraph.checkpoint.postgres import PostgresSaver

from aiprime.db.engine import connect


def test_migration_0010_applied_every_migration_of_the_installed_checkpointer(app_db_url: str) -> None:
    with connect(app_db_url).connect() as conn:
        applied = (
            conn.execute(sa.text("SELECT v FROM agents.checkpoint_migrations ORDER BY v")).scalars().all()
        )
    assert applied == list(range(len(PostgresSaver.MIGRATIONS))), (
        "langgraph-checkpoint-postgres has migrations that no Alembic revision applies: add one"
    )


def test_the_gateways_role_may_use_the_agents_tables_and_nothing_more(app_db_url: str) -> None:
    with connect(app_db_url).connect() as conn:
        granted = conn.execute(
            sa.text(
                "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) FROM "
                "information_schema.role_table_grants WHERE grantee = 'aiprime_gateway' AND table_schema = 'agents' "
                "GROUP BY table_name"
            )
        ).all()
    assert {name for name, _ in granted} == {"runs", "steps", "checkpoints", "checkpoint_blobs",
                                             "checkpoint_writes", "checkpoint_migrations"}  # fmt: skip
    assert {privileges for _, privileges in granted} == {"DELETE,INSERT,SELECT,UPDATE"}
