"""Migrations 0003 and 0005 (branch `gateway`): least-privilege RBAC and the gateway's database role."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from aiprime.db.engine import connect, current_revisions, head_revisions, migrate


def _downgrade(url: str, target: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("aiprime.db") / "migrations"))
    engine = connect(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, target)
    engine.dispose()


def test_the_gateway_branch_goes_down_and_up_again(fresh_db: str) -> None:
    assert current_revisions(fresh_db) == head_revisions()  # the gateway branch merged with the request log's
    _downgrade(fresh_db, "gateway@0001")
    with connect(fresh_db).connect() as conn:
        assert not sa.inspect(conn).has_schema("gateway")
        assert sa.inspect(conn).has_table("dataset_versions")  # the trunk is untouched
    migrate(fresh_db)
    with connect(fresh_db).connect() as conn:
        roles = set(conn.execute(sa.text("SELECT name FROM gateway.roles")).scalars())
        assert roles == {"viewer", "operator", "deployer", "admin", "auditor"}
        assert conn.execute(sa.text("SELECT count(*) FROM gateway.principals")).scalar() == 0
