"""The gateway's database role: it serves, yet cannot rewrite the audit log nor switch its triggers off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from _helpers import free_port
from sqlalchemy.exc import DBAPIError

from aiprime.errors import ConfigError, ServiceUnavailable
from aiprime.gateway import GatewaySettings
from aiprime.gateway.runtime import connect_as_gateway

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


def test_a_role_that_cannot_log_in_is_a_config_error_naming_the_setting(app_db_url) -> None:
    with pytest.raises(ConfigError, match="AIPRIME_GATEWAY_DB_ROLE"):
        connect_as_gateway(app_db_url, GatewaySettings(db_role="no_such_role", _env_file=None))


def test_a_database_that_does_not_answer_is_unavailable_not_a_config_error() -> None:
    """PostgreSQL down or still recovering: 503 and a supervisor's retry, not 'fix your settings'."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/aiprime"
    with pytest.raises(ServiceUnavailable) as raised:
        connect_as_gateway(url, GatewaySettings(_env_file=None))
    assert not isinstance(raised.value, ConfigError)
