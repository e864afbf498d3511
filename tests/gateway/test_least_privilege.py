"""The gateway's database role: it serves, yet cannot rewrite the audit log nor switch its triggers off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

NAME = {"name": "cli:root", "kind": "service"}


def test_the_gateway_connects_as_its_own_role(gateway) -> None:
    with gateway.app.state.runtime.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "aiprime_gateway"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE gateway.audit_log SET actor = 'someone-else' WHERE seq = 1",
        "DELETE FROM gateway.audit_log WHERE seq >= 1",
        "TRUNCATE gateway.audit_log",
        "SET session_replication_role = replica",  # what would switch the append-only triggers off
        "ALTER TABLE gateway.audit_log DISABLE TRIGGER USER",
    ],
)
def test_the_gateways_role_cannot_rewrite_the_audit_log(gateway, principals, statement: str) -> None:
    principals.service("viewer")  # at least one audit row exists
    engine = gateway.app.state.runtime.engine
    with pytest.raises(DBAPIError, match="permission denied|must be owner"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM gateway.audit_log WHERE seq = 1")).scalar() == 1
