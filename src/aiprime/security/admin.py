"""Administrative changes (principals, role assignments, API keys), each written with its audit entry.

A change and its `allow` entry commit in one transaction, so no change escapes the log; a refused change
(unknown name, separation of duty, ...) is logged as `deny` with the error's code. The CLI and the gateway's
admin routes both go through `Admin`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from aiprime.errors import AIPrimeError, error_code
from aiprime.security import apikeys, audit, rbac
from aiprime.security.passwords import hash_password

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who makes a change, and under which request and trace (None from the CLI)."""

    name: str
    request_id: str | None = None
    trace_id: str | None = None


class Admin:
    """Audited administration of the RBAC tables on one engine."""

    def __init__(self, engine: Engine) -> None:
        """Args: engine on the `aiprime` database, migrated to the gateway head."""
        self.engine = engine

    def add_principal(
        self, actor: Actor, name: str, kind: str = "user", password: str | None = None
    ) -> rbac.Principal:
        """Create a principal with no role; a user may get a password (hashed with Argon2id)."""
        hashed = hash_password(password) if password is not None else None
        return self._audited(
            actor,
            "principals.add",
            f"principal:{name}",
            {"kind": kind},
            lambda c: rbac.add_principal(c, name, kind, hashed, actor.name),
        )

    def remove_principal(self, actor: Actor, name: str) -> None:
        """Delete a principal with its assignments and keys (never the actor itself, nor the last admin)."""
        self._audited(
            actor,
            "principals.remove",
            f"principal:{name}",
            {},
            lambda c: rbac.remove_principal(c, name, actor.name),
        )

    def grant(self, actor: Actor, name: str, role: str) -> rbac.Principal:
        """Assign a role (separation of duty checked by the database)."""

        def change(c: Connection) -> rbac.Principal:
            rbac.grant(c, name, role, actor.name)
            return rbac.get_principal(c, name)

        return self._audited(actor, "roles.grant", f"principal:{name}", {"role": role}, change)

    def revoke(self, actor: Actor, name: str, role: str) -> rbac.Principal:
        """Remove a role assignment."""

        def change(c: Connection) -> rbac.Principal:
            rbac.revoke(c, name, role)
            return rbac.get_principal(c, name)

        return self._audited(actor, "roles.revoke", f"principal:{name}", {"role": role}, change)

    def create_key(self, actor: Actor, name: str) -> apikeys.ApiKey:
        """A new API key for a service account; only its hash is stored, so show `key.token` once."""
        key = apikeys.new_key()
        self._audited(
            actor,
            "keys.create",
            f"principal:{name}",
            {"key_id": key.key_id},
            lambda c: rbac.add_key(c, name, key, actor.name),
        )
        return key

    def revoke_key(self, actor: Actor, key_id: str) -> str:
        """Revoke an API key by id; return its owner."""
        return self._audited(
            actor, "keys.revoke", f"key:{key_id}", {"key_id": key_id}, lambda c: rbac.revoke_key(c, key_id)
        )

    def _audited(
        self, actor: Actor, action: str, resource: str, detail: dict, change: Callable[[Connection], T]
    ) -> T:
        def entry(decision: str, extra: dict) -> audit.AuditEntry:
            return audit.AuditEntry(
                actor.name, action, resource, decision, None, actor.request_id, actor.trace_id, detail | extra
            )

        try:
            with self.engine.begin() as conn:
                result = change(conn)
                audit.append(conn, [entry("allow", {})])
            return result
        except AIPrimeError as e:
            with self.engine.begin() as conn:
                audit.append(conn, [entry("deny", {"error": error_code(e)})])
            raise
