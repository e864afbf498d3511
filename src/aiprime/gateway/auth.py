"""Who is calling, and may they: bearer tokens and API keys to principals, and the permission check.

A request carries `Authorization: Bearer <credential>`, where the credential is a JWT (this gateway's, or
the configured OIDC issuer's) or a service account's API key (`aip_...`). Principals and their effective
permissions are read from PostgreSQL and cached for `identity_cache_s`; so are API keys. A revoked role or
key therefore stops working within that time, and a token's subject that was removed stops at once when
its cache entry expires.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from aiprime.errors import Forbidden, InvalidClient, InvalidGrant, Unauthenticated
from aiprime.security import rbac
from aiprime.security.apikeys import parse_key
from aiprime.security.passwords import verify_password
from aiprime.security.tokens import Claims, TokenVerifier

_MAX_CACHED = 50_000
_MAX_TOKENS = (
    10_000  # verified tokens remembered (about 3 MB), so a client's next request skips the signature
)


@dataclass(frozen=True)
class Caller:
    """An authenticated principal with its effective permissions."""

    name: str
    kind: str  # user | service | external
    permissions: frozenset[str]
    via: str  # token | api_key | oidc


class _TtlCache:
    """A small time-to-live cache for lookups that PostgreSQL answers (negative answers included)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s, self.clock, self._items = ttl_s, clock, {}

    async def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = self.clock()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await run_in_threadpool(load)
        if self.ttl_s > 0:
            if len(self._items) >= _MAX_CACHED:
                self._items.clear()
            self._items[key] = (now + self.ttl_s, value)
        return value


class Authenticator:
    """Turns credentials into callers and checks permissions."""

    def __init__(
        self,
        engine: Engine,
        verifier: TokenVerifier,
        cache_s: float,
        roles_granting: dict[str, list[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args: roles_granting maps each permission to the roles that grant it (for the 403's message)."""
        self.engine, self.verifier, self.roles_granting = engine, verifier, roles_granting
        self._identities = _TtlCache(cache_s, clock)
        self._keys = _TtlCache(cache_s, clock)
        self._verified: dict[str, Claims] = {}

    async def authenticate(self, credential: str | None) -> Caller:
        """The caller behind a bearer credential; Unauthenticated says what is missing or wrong."""
        if not credential:
            raise Unauthenticated(
                "This route needs a credential: send `Authorization: Bearer <token>` with a "
                "token from POST /oauth/token, or a service account's API key.",
                "missing",
            )
        key = parse_key(credential)
        if key is not None:
            owner = await self._keys.get(
                hashlib.sha256(credential.encode()).hexdigest(), lambda: self._key_owner(key)
            )
            if owner is None:
                raise Unauthenticated(
                    "The API key is unknown or revoked; ask an admin for a new one (`aiprime keys create`).",
                    "api_key",
                )
            return await self._caller(owner, "api_key")
        if self.verifier.is_external(credential):
            claims = await run_in_threadpool(self.verifier.verify, credential)  # may fetch the JWKS
            return await self._caller(claims.subject, "oidc")
        return await self._caller(self._verify_local(credential).subject, "token")

    def _verify_local(self, token: str) -> Claims:
        """Verify one of this gateway's tokens, remembering it until its expiry (a token cannot change)."""
        claims = self._verified.get(token)
        if claims is not None and time.time() < claims.expires_at:
            return claims
        claims = self.verifier.verify(token)
        if len(self._verified) >= _MAX_TOKENS:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def authorize(self, caller: Caller, permission: str) -> None:
        """Raise Forbidden, naming the roles that would grant `permission`, unless the caller holds it."""
        if permission in caller.permissions:
            return
        roles = ", ".join(self.roles_granting.get(permission, [])) or "none"
        raise Forbidden(
            f"{caller.name!r} may not use {permission!r}: no role of theirs grants it (roles that "
            f"do: {roles}). An admin can run `aiprime users grant {caller.name} <role>`."
        )

    async def _caller(self, name: str, via: str) -> Caller:
        found = await self._identities.get(name, lambda: self._identity(name))
        if found is None and via != "oidc":
            raise Unauthenticated(
                f"The principal {name!r} no longer exists; ask an admin.", "unknown_principal"
            )
        if found is None:  # an external subject nobody registered: authenticated, but holds no role
            return Caller(name, "external", frozenset(), via)
        return Caller(found.name, found.kind, found.permissions, via)

    def _identity(self, name: str) -> rbac.Identity | None:
        with self.engine.connect() as conn:
            return rbac.identity(conn, name)

    def _key_owner(self, key: Any) -> str | None:
        with self.engine.connect() as conn:
            return rbac.key_owner(conn, key)

    async def password_grant(self, username: str, password: str) -> Caller:
        """OAuth2 password grant: a local user by name and password (InvalidGrant otherwise)."""
        found = await run_in_threadpool(self._password_hash, username)
        stored = found[1] if found and found[0] == "user" else None
        if not await run_in_threadpool(verify_password, password, stored):
            raise InvalidGrant("Wrong user name or password (or the principal has no password login).")
        return await self._caller(username, "token")

    async def client_credentials(self, client_id: str, client_secret: str) -> Caller:
        """OAuth2 client-credentials grant: a service account, authenticated by one of its API keys."""
        key = parse_key(client_secret)
        owner = await run_in_threadpool(self._key_owner, key) if key else None
        if owner is None or owner != client_id:
            raise InvalidClient(
                f"Client {client_id!r} is unknown or the secret is not one of its active API "
                "keys; use the key that `aiprime keys create` printed."
            )
        return await self._caller(owner, "token")

    def _password_hash(self, name: str) -> tuple[str, str | None] | None:
        with self.engine.connect() as conn:
            return rbac.password_hash(conn, name)
