"""NIST RBAC in PostgreSQL (schema `gateway`, migration 0003): core, hierarchical, static separation of duty.

Principals (users, service accounts, external OIDC subjects) are assigned roles; roles carry permissions and
inherit the permissions of their juniors (viewer < operator < deployer < admin; auditor stands apart). A
principal's permissions are those of every role it is authorized for. The database itself refuses an
assignment that breaks an SSD constraint (trigger `principal_roles_ssd`), so the rule holds for any writer.
Every function takes an open connection; the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aiprime.errors import (
    AdminLockout,
    AlreadyExists,
    DutyConflict,
    InvalidInput,
    NotFound,
    WrongPrincipalKind,
)
from aiprime.security.apikeys import ApiKey, matches

#: The resources a permission grants access to (one permission per resource), as seeded by migration 0003
#: (`console`, the AI Prime console's, by 0008: viewers and every role above them hold it; `feedback`, by
#: 0009: operators and every role above them; `python`, the agents' sandbox, by 0010: viewers and above).
PERMISSIONS = (
    "predict",
    "explain",
    "ask",
    "ingest",
    "train",
    "deploy",
    "admin",
    "read-audit",
    "console",
    "feedback",
    "python",
)
KINDS = ("user", "service", "external")
ROLES = ("viewer", "operator", "deployer", "admin", "auditor")  # as seeded by migration 0003
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:|+-]{0,127}$"  # the CHECK constraint of gateway.principals
_NAME = re.compile(NAME_PATTERN)
#: Actors the system itself writes into the audit log; no principal may be named like them (any case).
RESERVED_NAMES = ("anonymous",)
RESERVED_PREFIXES = ("cli:", "system:")


def _any_case(text: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in text)


#: The same rule for JSON Schema (ECMA regex, no flags): what a new principal's name must not match.
RESERVED_PATTERN = (
    f"^({'|'.join([_any_case(p) for p in RESERVED_PREFIXES] + [_any_case(n) + '$' for n in RESERVED_NAMES])})"
)
_ADMINS_LOCK = 0x41495052494D46  # pg_advisory_xact_lock key serializing changes that could drop an admin
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
    """What authorization needs about a principal: its kind, effective permissions and never-reused id."""

    name: str
    kind: str
    permissions: frozenset[str]
    principal_id: str  # a random UUID: a principal re-created under the same name gets another


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


def is_reserved(name: str) -> bool:
    """Whether `name` is one the audit log uses for the system's own actors (any case)."""
    folded = name.lower()
    return folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIXES)


def check_unreserved(name: str) -> str:
    """Return `name` unless the audit log uses it for the system's own actors (InvalidInput then)."""
    if is_reserved(name):
        reserved = ", ".join([repr(n) for n in RESERVED_NAMES] + [f"'{p}...'" for p in RESERVED_PREFIXES])
        raise InvalidInput(
            f"Principal name {name!r} is reserved: the audit log names the system's own actors "
            f"{reserved}, so a principal named so could pass for them. Choose another name."
        )
    return name


def add_principal(conn: Connection, name: str, kind: str, password_hash: str | None, by: str) -> Principal:
    """Create a principal with no role (least privilege); AlreadyExists if the name is taken.

    Raises:
        InvalidInput: a bad kind or name, or a name reserved for the system's own actors.
    """
    check_unreserved(check_name(name))
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


def remove_principal(conn: Connection, name: str, by: str | None = None) -> None:
    """Delete a principal with its role assignments and API keys.

    Raises:
        NotFound: there is no such principal.
        AdminLockout: `by` (the acting principal) removes itself, or the last admin would go.
    """
    if by == name:
        raise AdminLockout(
            f"{name!r} cannot remove itself: another admin must do it (so the log shows two people)."
        )
    with _keeping_an_admin(conn, f"removing {name!r}"):
        deleted = conn.execute(sa.text("DELETE FROM gateway.principals WHERE name = :n"), {"n": name})
        if deleted.rowcount == 0:
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
    """Remove the assignment of `role` to `name`.

    Raises:
        NotFound: `name` does not hold that role directly.
        AdminLockout: it would leave no principal holding the `admin` permission.
    """
    with _keeping_an_admin(conn, f"revoking {role!r} from {name!r}"):
        deleted = conn.execute(
            sa.text("DELETE FROM gateway.principal_roles WHERE principal = :n AND role = :r"),
            {"n": name, "r": role},
        ).rowcount
        if deleted == 0:
            _require_principal(conn, name)
            raise NotFound(
                f"{name!r} is not assigned the role {role!r}; `aiprime users list` shows assignments."
            )


@contextmanager
def _keeping_an_admin(conn: Connection, change: str) -> Iterator[None]:
    """Run a change that may take `admin` away; AdminLockout if it leaves none where there was one.

    The advisory lock serializes such changes (two admins removing each other at once: the second sees the
    first's commit), and the caller's transaction rolls the refused change back.
    """
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADMINS_LOCK})
    before = _count_admins(conn)
    yield
    if before > 0 and _count_admins(conn) == 0:
        raise AdminLockout(
            f"Refused {change}: it would leave no principal holding the `admin` permission, and nobody "
            "could administer the gateway. Grant `admin` to another principal first."
        )


def _count_admins(conn: Connection) -> int:
    return conn.execute(
        sa.text(
            "WITH RECURSIVE below(role, junior) AS ("
            "  SELECT name, name FROM gateway.roles"
            "  UNION SELECT b.role, h.junior FROM below b JOIN gateway.role_inheritance h ON h.senior = b.junior"
            ") SELECT count(DISTINCT a.principal) FROM gateway.principal_roles a "
            "JOIN below b ON b.role = a.role JOIN gateway.role_permissions p ON p.role = b.junior "
            "WHERE p.permission = 'admin'"
        )
    ).scalar_one()


def identity(conn: Connection, name: str) -> Identity | None:
    """The principal's kind, id and effective permissions (through the role hierarchy), or None if unknown."""
    found = conn.execute(
        sa.text("SELECT kind, id FROM gateway.principals WHERE name = :n"), {"n": name}
    ).first()
    if found is None:
        return None
    permissions = conn.execute(
        sa.text(
            f"{_AUTHORIZED} SELECT DISTINCT permission FROM gateway.role_permissions "
            "WHERE role IN (SELECT role FROM authorized)"
        ),
        {"name": name},
    ).scalars()
    return Identity(name, found.kind, frozenset(permissions), str(found.id))


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
        raise WrongPrincipalKind(
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


def live_key_owner(conn: Connection, key_id: str) -> str | None:
    """The owner of the API key `key_id` while it is not revoked (nor removed with its owner), else None."""
    return conn.execute(
        sa.text("SELECT principal FROM gateway.api_keys WHERE key_id = :i AND revoked_at IS NULL"),
        {"i": key_id},
    ).scalar()


def _require_principal(conn: Connection, name: str) -> str:
    found = password_hash(conn, name)
    if found is None:
        raise NotFound(f"No principal named {name!r}; create it with `aiprime users add {name}`.")
    return found[0]


def _require_role(conn: Connection, role: str) -> None:
    if conn.execute(sa.text("SELECT 1 FROM gateway.roles WHERE name = :r"), {"r": role}).first() is None:
        names = ", ".join(conn.execute(sa.text("SELECT name FROM gateway.roles ORDER BY name")).scalars())
        raise NotFound(f"No role named {role!r}; the roles are {names}.")
