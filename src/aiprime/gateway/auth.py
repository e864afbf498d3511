"""Who is calling, and may they: bearer tokens and API keys to principals, and the permission check.

A request carries `Authorization: Bearer <credential>`, where the credential is a JWT (this gateway's, or
the configured OIDC issuer's) or a service account's API key (`aip_...`). Principals and their effective
permissions are read from PostgreSQL and cached for `identity_cache_s` (default 5 s); so are API keys.

Revocation reaches tokens already issued within that time, at most:
- this gateway's tokens carry the principal's id (`pid`, a random UUID never reused), checked at every use:
  a removed principal's token stays refused after an admin re-creates the same name;
- a token obtained with an API key carries the key's id (`key`): once the key is revoked (or its owner
  removed), the token is refused too, not only the key;
- a revoked role stops granting its permissions.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache, TTLCache
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from aiprime.errors import Forbidden, InvalidClient, InvalidGrant, Unauthenticated
from aiprime.security import rbac
from aiprime.security.apikeys import parse_key
from aiprime.security.passwords import verify_password
from aiprime.security.tokens import Claims, TokenVerifier

_MAX_CACHED = 50_000  # principals and API keys remembered; past it the least recently used go first
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
    principal_id: str | None = None  # the local principal's id; None for an unregistered external subject
    key_id: str | None = None  # the API key it authenticated with, if any


class LookupCache:
    """Lookups that PostgreSQL answers (negative answers included), kept for `ttl_s` seconds.

    When full, the least recently used entries make room (`cachetools.TTLCache`): a full cache never sends
    every lookup to PostgreSQL at once.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float], max_items: int = _MAX_CACHED) -> None:
        self._items = TTLCache(max_items, ttl_s, timer=clock) if ttl_s > 0 else None

    async def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The cached answer for `key`, else `load()` run in a worker thread (and remembered)."""
        if self._items is not None:
            hit = self._items.get(key, _MISSING)
            if hit is not _MISSING:
                return hit
        return await self.refresh(key, load)

    async def refresh(self, key: str, load: Callable[[], Any]) -> Any:
        """`load()` run in a worker thread, remembered for `key` whatever was cached."""
        value = await run_in_threadpool(load)
        if self._items is not None:
            self._items[key] = value
        return value


_MISSING = object()


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
        self._identities = LookupCache(cache_s, clock)
        self._keys = LookupCache(cache_s, clock)
        self._live_keys = LookupCache(cache_s, clock)
        self._verified: LRUCache[str, Claims] = LRUCache(_MAX_TOKENS)

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
            return await self._caller(owner, "api_key", key_id=key.key_id)
        if self.verifier.is_external(credential):
            claims = await run_in_threadpool(self.verifier.verify, credential)  # may fetch the JWKS
            return await self._caller(claims.subject, "oidc")
        claims = self._verify_local(credential)
        caller = await self._caller(claims.subject, "token", key_id=claims.key_id)
        return await self._check_binding(caller, claims)

    async def _check_binding(self, caller: Caller, claims: Claims) -> Caller:
        """The caller, unless its principal was re-created since the token (or its API key revoked).

        A cached identity may predate a re-created principal's new token: on a mismatch, look again.
        """
        if claims.principal_id != caller.principal_id:
            caller = await self._caller(caller.name, "token", claims.key_id, fresh=True)
        if claims.principal_id != caller.principal_id:
            raise Unauthenticated(
                f"This token was issued to an earlier principal named {caller.name!r} (since removed) or "
                "before principal ids existed; get a new token from POST /oauth/token.",
                "revoked",
            )
        if claims.key_id is not None:
            owner = await self._live_keys.get(claims.key_id, lambda: self._live_key_owner(claims.key_id))
            if owner != caller.name:
                raise Unauthenticated(
                    f"The API key {claims.key_id} that this token was obtained with has been revoked; "
                    "ask an admin for a new key (`aiprime keys create`).",
                    "revoked",
                )
        return caller

    def _verify_local(self, token: str) -> Claims:
        """Verify one of this gateway's tokens, remembering it until its expiry (a token cannot change)."""
        claims = self._verified.get(token)
        if claims is not None and time.time() < claims.expires_at:
            return claims
        claims = self.verifier.verify(token)
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

    async def _caller(self, name: str, via: str, key_id: str | None = None, fresh: bool = False) -> Caller:
        """The principal `name` as a caller; `fresh` reads PostgreSQL whatever is cached (to issue tokens)."""
        cache = self._identities
        found = await (cache.refresh if fresh else cache.get)(name, lambda: self._identity(name))
        if found is None and via != "oidc":
            raise Unauthenticated(
                f"The principal {name!r} no longer exists; ask an admin.", "unknown_principal"
            )
        if found is None:  # an external subject nobody registered: authenticated, but holds no role
            if rbac.is_reserved(name):
                raise Unauthenticated(
                    f"The token's subject {name!r} is a name the audit log keeps for the system's own "
                    "actors; register the subject under another name or fix the issuer's claim.",
                    "reserved_subject",
                )
            return Caller(name, "external", frozenset(), via)
        return Caller(found.name, found.kind, found.permissions, via, found.principal_id, key_id)

    def _identity(self, name: str) -> rbac.Identity | None:
        with self.engine.connect() as conn:
            return rbac.identity(conn, name)

    def _key_owner(self, key: Any) -> str | None:
        with self.engine.connect() as conn:
            return rbac.key_owner(conn, key)

    def _live_key_owner(self, key_id: str) -> str | None:
        with self.engine.connect() as conn:
            return rbac.live_key_owner(conn, key_id)

    async def password_grant(self, username: str, password: str) -> Caller:
        """OAuth2 password grant: a local user by name and password (InvalidGrant otherwise)."""
        found = await run_in_threadpool(self._password_hash, username)
        stored = found[1] if found and found[0] == "user" else None
        if not await run_in_threadpool(verify_password, password, stored):
            raise InvalidGrant("Wrong user name or password (or the principal has no password login).")
        return await self._caller(username, "token", fresh=True)

    async def client_credentials(self, client_id: str, client_secret: str) -> Caller:
        """OAuth2 client-credentials grant: a service account, authenticated by one of its API keys."""
        key = parse_key(client_secret)
        owner = await run_in_threadpool(self._key_owner, key) if key else None
        if owner is None or owner != client_id:
            raise InvalidClient(
                f"Client {client_id!r} is unknown or the secret is not one of its active API "
                "keys; use the key that `aiprime keys create` printed."
            )
        return await self._caller(owner, "token", key_id=key.key_id, fresh=True)

    def _password_hash(self, name: str) -> tuple[str, str | None] | None:
        with self.engine.connect() as conn:
            return rbac.password_hash(conn, name)
