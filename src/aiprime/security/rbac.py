"""NIST RBAC in PostgreSQL (schema `gateway`, migration 0003): core, hierarchical, static separation of duty.

Principals (users, service accounts, external OIDC subjects) are assigned roles; roles carry permissions and
inherit the permissions of their juniors (viewer < operator < deployer < admin; auditor stands apart). A
principal's permissions are those of every role it is authorized for. The database itself refuses an
assignment that breaks an SSD constraint (trigger `principal_roles_ssd`), so the rule holds for any writer.
Every function takes an open connection; the caller owns the transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aiprime.errors import AlreadyExists, DutyConflict, InvalidInput, NotFound
from aiprime.security.apikeys import ApiKey, matches

#: The resources a permission grants access to (one permission per resource), as seeded by migration 0003.
PERMISSIONS = ("predict", "explain", "ask", "ingest", "train", "deploy", "admin", "read-audit")
KINDS = ("user", "service", "external")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:|+-]{0,127}$"  # the CHECK constraint of gateway.principals
_NAME = re.compile(NAME_PATTERN)
_AUTHORIZED = """
WITH RECURSIVE authorized(role) AS (
  SELECT role FROM gateway.principal_roles WHERE principal = :name
  UNION SELECT h.junior FROM gateway.role_inheritance h JOIN authorized a ON h.senior = a.role
)"""


@dataclass(frozen=True)
class Principal:
    """A user, service account or external subject, with the roles assigned to it."""

    name: str
    kind: str
    roles: tuple[str, ...]
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Identity:
    """What authorization needs about a principal: its kind and effective permissions."""

    name: str
    kind: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class Role:
    """A role: its own permissions, its direct juniors, and everything it is authorized for."""

    name: str
    description: str
    permissions: tuple[str, ...]
    juniors: tuple[str, ...]
    effective_permissions: tuple[str, ...]


@dataclass(frozen=True)
class SsdConstraint:
    """No principal may be authorized for `cardinality` or more of `roles`."""

    name: str
    description: str
    cardinality: int
    roles: tuple[str, ...]


def check_name(name: str) -> str:
    """Return `name` if it fits a principal name, else raise InvalidInput with the rule."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"Principal name {name!r} is not valid: use 1-128 letters, digits or ._@:|+- "
            "starting with a letter or digit."
        )
    return name


def add_principal(conn: Connection, name: str, kind: str, password_hash: str | None, by: str) -> Principal:
    """Create a principal with no role (least privilege); AlreadyExists if the name is taken."""
    if kind not in KINDS:
        raise InvalidInput(f"Principal kind {kind!r} is not one of {', '.join(KINDS)}.")
    if password_hash is not None and kind != "user":
        raise InvalidInput(f"Only users log in with a password; a {kind} principal authenticates otherwise.")
    inserted = conn.execute(
        sa.text(
            "INSERT INTO gateway.principals (name, kind, password_hash, created_by) VALUES (:n, :k, :h, :b) "
            "ON CONFLICT (name) DO NOTHING RETURNING name"
        ),
        {"n": check_name(name), "k": kind, "h": password_hash, "b": by},
    ).first()
    if inserted is None:
        raise AlreadyExists(f"Principal {name!r} exists already; choose another name or remove it first.")
    return get_principal(conn, name)


def remove_principal(conn: Connection, name: str) -> None:
    """Delete a principal with its role assignments and API keys; NotFound if there is none."""
    if conn.execute(sa.text("DELETE FROM gateway.principals WHERE name = :n"), {"n": name}).rowcount == 0:
        raise NotFound(f"No principal named {name!r}; `aiprime users list` shows them.")


def get_principal(conn: Connection, name: str) -> Principal | None:
    """The principal named `name` with its assigned roles, or None."""
    found = [p for p in _principals(conn, "WHERE p.name = :n", {"n": name})]
    return found[0] if found else None


def list_principals(conn: Connection) -> list[Principal]:
    """Every principal, by name."""
    return _principals(conn, "", {})


def _principals(conn: Connection, where: str, params: dict) -> list[Principal]:
    rows = conn.execute(
        sa.text(
            "SELECT p.name, p.kind, p.created_at, p.created_by, "
            "coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles "
            f"FROM gateway.principals p LEFT JOIN gateway.principal_roles r ON r.principal = p.name {where} "
            "GROUP BY p.name ORDER BY p.name"
        ),
        params,
    )
    return [Principal(r.name, r.kind, tuple(r.roles), r.created_at, r.created_by) for r in rows]


def password_hash(conn: Connection, name: str) -> tuple[str, str | None] | None:
    """(kind, password hash) of the principal `name`, or None if it does not exist."""
    row = conn.execute(
        sa.text("SELECT kind, password_hash FROM gateway.principals WHERE name = :n"), {"n": name}
    ).first()
    return (row.kind, row.password_hash) if row else None


def grant(conn: Connection, name: str, role: str, by: str) -> None:
    """Assign `role` to `name` (idempotent).

    Raises:
        NotFound: no such principal or role.
        DutyConflict: the assignment would break a static separation-of-duty constraint.
    """
    _require_principal(conn, name)
    _require_role(conn, role)
    try:
        with conn.begin_nested():
            conn.execute(
                sa.text(
                    "INSERT INTO gateway.principal_roles (principal, role, granted_by) "
                    "VALUES (:n, :r, :b) ON CONFLICT DO NOTHING"
                ),
                {"n": name, "r": role, "b": by},
            )
    except IntegrityError as e:
        if getattr(e.orig, "sqlstate", None) != "23514":
            raise
        raise DutyConflict(
            f"Cannot grant {role!r} to {name!r}: {e.orig.diag.message_primary}. Revoke the "
            "conflicting role first, or give the duty to another principal."
        ) from e


def revoke(conn: Connection, name: str, role: str) -> None:
    """Remove the assignment of `role` to `name`; NotFound if it does not hold that role directly."""
    deleted = conn.execute(
        sa.text("DELETE FROM gateway.principal_roles WHERE principal = :n AND role = :r"),
        {"n": name, "r": role},
    ).rowcount
    if deleted == 0:
        _require_principal(conn, name)
        raise NotFound(f"{name!r} is not assigned the role {role!r}; `aiprime users list` shows assignments.")


def identity(conn: Connection, name: str) -> Identity | None:
    """The principal's kind and effective permissions (through the role hierarchy), or None if unknown."""
    found = password_hash(conn, name)
    if found is None:
        return None
    permissions = conn.execute(
        sa.text(
            f"{_AUTHORIZED} SELECT DISTINCT permission FROM gateway.role_permissions "
            "WHERE role IN (SELECT role FROM authorized)"
        ),
        {"name": name},
    ).scalars()
    return Identity(name, found[0], frozenset(permissions))


def list_roles(conn: Connection) -> list[Role]:
    """Every role with its direct permissions, direct juniors and effective permissions."""
    rows = conn.execute(
        sa.text("""
        WITH RECURSIVE below(role, junior) AS (
          SELECT name, name FROM gateway.roles
          UNION SELECT b.role, h.junior FROM below b JOIN gateway.role_inheritance h ON h.senior = b.junior
        )
        SELECT r.name, r.description,
          ARRAY(SELECT permission FROM gateway.role_permissions WHERE role = r.name ORDER BY 1) AS own,
          ARRAY(SELECT junior FROM gateway.role_inheritance WHERE senior = r.name ORDER BY 1) AS juniors,
          ARRAY(SELECT DISTINCT p.permission FROM below b JOIN gateway.role_permissions p ON p.role = b.junior
                WHERE b.role = r.name ORDER BY 1) AS effective
        FROM gateway.roles r ORDER BY r.name""")
    )
    return [Role(r.name, r.description, tuple(r.own), tuple(r.juniors), tuple(r.effective)) for r in rows]


def ssd_constraints(conn: Connection) -> list[SsdConstraint]:
    """The static separation-of-duty constraints."""
    rows = conn.execute(
        sa.text(
            "SELECT c.name, c.description, c.cardinality, array_agg(r.role ORDER BY r.role) AS roles "
            "FROM gateway.ssd_constraints c JOIN gateway.ssd_roles r ON r.constraint_name = c.name "
            "GROUP BY c.name ORDER BY c.name"
        )
    )
    return [SsdConstraint(r.name, r.description, r.cardinality, tuple(r.roles)) for r in rows]


def add_key(conn: Connection, name: str, key: ApiKey, by: str) -> None:
    """Record an API key (its hash) for the service account `name`."""
    kind = _require_principal(conn, name)
    if kind != "service":
        raise InvalidInput(
            f"{name!r} is a {kind}; API keys belong to service accounts. Create one with "
            "`aiprime users add NAME --kind service`."
        )
    conn.execute(
        sa.text(
            "INSERT INTO gateway.api_keys (key_id, principal, secret_sha256, created_by) "
            "VALUES (:i, :n, :h, :b)"
        ),
        {"i": key.key_id, "n": name, "h": key.secret_sha256, "b": by},
    )


def revoke_key(conn: Connection, key_id: str) -> str:
    """Revoke an API key; return its owner. NotFound if no unrevoked key has that id."""
    owner = conn.execute(
        sa.text(
            "UPDATE gateway.api_keys SET revoked_at = now() "
            "WHERE key_id = :i AND revoked_at IS NULL RETURNING principal"
        ),
        {"i": key_id},
    ).scalar()
    if owner is None:
        raise NotFound(f"No active API key has the id {key_id!r} (the part after 'aip_').")
    return owner


def key_owner(conn: Connection, key: ApiKey) -> str | None:
    """The service account that owns `key` if the key is valid and not revoked, else None."""
    row = conn.execute(
        sa.text(
            "SELECT principal, secret_sha256 FROM gateway.api_keys WHERE key_id = :i AND revoked_at IS NULL"
        ),
        {"i": key.key_id},
    ).first()
    return row.principal if row is not None and matches(key, row.secret_sha256) else None


def _require_principal(conn: Connection, name: str) -> str:
    found = password_hash(conn, name)
    if found is None:
        raise NotFound(f"No principal named {name!r}; create it with `aiprime users add {name}`.")
    return found[0]


def _require_role(conn: Connection, role: str) -> None:
    if conn.execute(sa.text("SELECT 1 FROM gateway.roles WHERE name = :r"), {"r": role}).first() is None:
        names = ", ".join(conn.execute(sa.text("SELECT name FROM gateway.roles ORDER BY name")).scalars())
        raise NotFound(f"No role named {role!r}; the roles are {names}.")
