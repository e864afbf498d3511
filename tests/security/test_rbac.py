"""NIST RBAC in PostgreSQL: least privilege, the role hierarchy, static separation of duty, API keys."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from aiprime.db.engine import connect
from aiprime.errors import AlreadyExists, DutyConflict, InvalidInput, NotFound, WrongPrincipalKind
from aiprime.security import apikeys, rbac
from aiprime.security.admin import Actor, Admin

ME = Actor("tests")
EFFECTIVE = {
    "viewer": {"predict", "explain", "ask", "console", "python"},
    "operator": {"predict", "explain", "ask", "console", "python", "ingest", "train", "feedback"},
    "deployer": {"predict", "explain", "ask", "console", "python", "ingest", "train", "feedback", "deploy"},
    "admin": {
        "predict",
        "explain",
        "ask",
        "console",
        "python",
        "ingest",
        "train",
        "feedback",
        "deploy",
        "admin",
    },
    "auditor": {"read-audit"},
}


@pytest.fixture(scope="module")
def admin(app_db_url: str) -> Admin:
    return Admin(connect(app_db_url))


def _name() -> str:
    return f"rbac-{uuid.uuid4().hex[:8]}"


def _identity(admin: Admin, name: str) -> rbac.Identity:
    with admin.engine.connect() as conn:
        return rbac.identity(conn, name)


def test_a_new_principal_holds_no_role_and_no_permission(admin: Admin) -> None:
    name = _name()
    assert admin.add_principal(ME, name, "service").roles == ()
    assert _identity(admin, name).permissions == frozenset()


@pytest.mark.parametrize("role", list(EFFECTIVE))
def test_a_role_grants_its_own_and_its_juniors_permissions(admin: Admin, role: str) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    admin.grant(ME, name, role)
    assert _identity(admin, name).permissions == EFFECTIVE[role]


@pytest.mark.parametrize(
    ("first", "second"),
    [("deployer", "auditor"), ("auditor", "deployer"), ("admin", "auditor"), ("auditor", "admin")],
)
def test_separation_of_duty_refuses_deploying_and_auditing_together(
    admin: Admin, first: str, second: str
) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    admin.grant(ME, name, first)
    with pytest.raises(DutyConflict, match="deploy-vs-audit") as info:
        admin.grant(ME, name, second)
    assert info.value.http_status == 409
    assert _identity(admin, name).permissions == EFFECTIVE[first]  # nothing half-granted


def test_the_database_itself_refuses_a_conflicting_assignment(admin: Admin) -> None:
    name = _name()
    admin.add_principal(ME, name, "user")
    admin.grant(ME, name, "deployer")
    with pytest.raises(IntegrityError, match="static separation of duty"), admin.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO gateway.principal_roles (principal, role, granted_by) "
                "VALUES (:n, 'auditor', 'raw sql')"
            ),
            {"n": name},
        )


def test_operator_and_auditor_may_be_combined(admin: Admin) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    admin.grant(ME, name, "operator")
    admin.grant(ME, name, "auditor")
    assert _identity(admin, name).permissions == EFFECTIVE["operator"] | {"read-audit"}


def test_revoking_removes_the_permissions(admin: Admin) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    admin.grant(ME, name, "operator")
    assert admin.revoke(ME, name, "operator").roles == ()
    assert _identity(admin, name).permissions == frozenset()
    with pytest.raises(NotFound, match="not assigned the role 'operator'"):
        admin.revoke(ME, name, "operator")


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda a, n: a.grant(ME, n, "superuser"), NotFound, "roles are admin, auditor"),
        (lambda a, n: a.grant(ME, "nobody-" + n, "viewer"), NotFound, "aiprime users add"),
        (lambda a, n: a.add_principal(ME, n, "service"), AlreadyExists, "exists already"),
        (lambda a, n: a.add_principal(ME, "bad name!", "user"), InvalidInput, "letters, digits"),
        (
            lambda a, n: a.add_principal(ME, _name(), "service", "correct horse battery"),
            InvalidInput,
            "Only users",
        ),
        (lambda a, n: a.create_key(ME, n + "-user"), WrongPrincipalKind, "service accounts"),
    ],
)
def test_a_wrong_admin_call_says_what_to_do(admin: Admin, call, error, words: str) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    admin.add_principal(ME, name + "-user", "user")
    with pytest.raises(error, match=words):
        call(admin, name)


def test_an_api_key_is_stored_hashed_and_stops_when_revoked(admin: Admin) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    key = admin.create_key(ME, name)
    with admin.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT secret_sha256 FROM gateway.api_keys WHERE key_id = :i"), {"i": key.key_id}
        ).scalar()
        assert stored == key.secret_sha256 and key.secret not in stored
        assert rbac.key_owner(conn, key) == name
        assert rbac.key_owner(conn, apikeys.ApiKey(key.key_id, "x" * 43)) is None
    assert admin.revoke_key(ME, key.key_id) == name
    with admin.engine.connect() as conn:
        assert rbac.key_owner(conn, key) is None


def test_removing_a_principal_removes_its_keys_and_roles(admin: Admin) -> None:
    name = _name()
    admin.add_principal(ME, name, "service")
    admin.grant(ME, name, "viewer")
    key = admin.create_key(ME, name)
    admin.remove_principal(ME, name)
    with admin.engine.connect() as conn:
        assert rbac.identity(conn, name) is None
        assert rbac.key_owner(conn, key) is None
