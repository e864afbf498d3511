"""Everything a running gateway holds: database engine, authenticator, token issuer, limiter, audit writer.

`open_runtime` builds it when the app starts (it connects to PostgreSQL and reads the signing key, so it
never runs at import or at `create_app`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aiprime.db.engine import connect
from aiprime.db.urls import parse_url
from aiprime.errors import ConfigError, Forbidden, RateLimited, ServiceUnavailable, Unauthenticated
from aiprime.gateway.auditspool import AuditSpool
from aiprime.gateway.auditwriter import AuditWriter
from aiprime.gateway.auth import Authenticator, Caller
from aiprime.gateway.config import GatewaySettings
from aiprime.gateway.middleware import RequestContext
from aiprime.gateway.ratelimit import RateLimiter
from aiprime.gateway.telemetry import GatewayMetrics
from aiprime.gateway.upstream import Upstreams
from aiprime.security import rbac
from aiprime.security.admin import Actor, Admin
from aiprime.security.auditheads import HeadPublisher, store_for
from aiprime.security.secrets import SecretStore, load_signing_key
from aiprime.security.tokens import OidcIssuer, TokenIssuer, TokenVerifier


@dataclass
class Runtime:
    """The live parts of one gateway app."""

    settings: GatewaySettings
    engine: Engine
    auth: Authenticator
    issuer: TokenIssuer
    limiter: RateLimiter
    logins: RateLimiter  # password guesses cost Argon2 work: a tighter bucket per address and per user
    audit: AuditWriter
    admin: Admin
    metrics: GatewayMetrics
    upstreams: Upstreams | None = None  # set once the lifespan opened the HTTP client
    heads: HeadPublisher | None = None  # publishes the audit chain's head (where audit_heads says)

    def stop_publishing_heads(self) -> None:
        """Publish the final head and stop (after the audit writer flushed)."""
        if self.heads is not None:
            self.heads.stop()

    async def authorize(self, ctx: RequestContext, permission: str, credential: str | None) -> Caller:
        """Authenticate, rate-limit and authorize one request, recording each step in `ctx`."""
        ctx.resource, ctx.decision = permission, "deny"
        try:
            caller = await self.auth.authenticate(credential)
        except Unauthenticated as e:
            self.metrics.auth_failures.labels(e.reason).inc()
            self.take(f"ip:{ctx.client}")  # failures spend the address's bucket: floods get 429
            raise
        ctx.actor = caller.name
        self.take(caller.name)
        try:
            self.auth.authorize(caller, permission)
        except Forbidden:
            self.metrics.auth_failures.labels("forbidden").inc()
            raise
        ctx.decision = "allow"
        return caller

    def take(self, key: str, limiter: RateLimiter | None = None) -> None:
        """Spend one request of `key`'s rate (RateLimited, counted, when none is left)."""
        try:
            (limiter or self.limiter).take(key)
        except RateLimited:
            self.metrics.rate_limited.inc()
            raise

    @staticmethod
    def actor(ctx: RequestContext, caller: Caller) -> Actor:
        """The actor of an admin change made by this request."""
        return Actor(caller.name, ctx.request_id, ctx.trace_id)


def open_runtime(
    gateway: GatewaySettings,
    db_url: str,
    secrets: SecretStore,
    metrics: GatewayMetrics,
    spool_dir: Path | None = None,
) -> Runtime:
    """Connect, check the schema, load the signing key and roles, and start the audit writer (which first
    writes what `spool_dir` kept from the last run; None: audit entries are kept in memory only).

    Raises:
        ServiceUnavailable: PostgreSQL cannot be reached.
        ConfigError: the gateway tables are missing, or the signing key or OIDC settings are wrong.
    """
    engine = connect_as_gateway(db_url, gateway)
    if not sa.inspect(engine).has_table("audit_log", schema="gateway"):
        raise ConfigError(
            "The gateway's tables (schema `gateway`) are missing from the aiprime database; run "
            "`aiprime services up`, which migrates the schema to every head."
        )
    key = load_signing_key(secrets)
    verifier = TokenVerifier({key.kid: key.public}, gateway.issuer, gateway.audience, oidc=_oidc(gateway))
    auth = Authenticator(engine, verifier, gateway.identity_cache_s, _roles_granting(engine))
    spool = AuditSpool(spool_dir) if spool_dir is not None else None
    audit = AuditWriter(engine, metrics, gateway.audit_backlog, spool, gateway.audit_anonymous_share)
    audit.start()
    issuer = TokenIssuer(key, gateway.issuer, gateway.audience, gateway.token_ttl_s)
    return Runtime(
        gateway,
        engine,
        auth,
        issuer,
        RateLimiter(gateway.rate_per_s, gateway.burst),
        RateLimiter(gateway.login_rate_per_s, gateway.login_burst),
        audit,
        Admin(engine),
        metrics,
        heads=start_publishing_heads(engine, gateway),
    )


def start_publishing_heads(engine: Engine, gateway: GatewaySettings) -> HeadPublisher | None:
    """Publish the audit chain's head where `audit_heads` says, every `audit_head_interval_s`."""
    if not gateway.audit_heads:
        return None
    store = store_for(gateway.audit_heads, engine.url.database)
    publisher = HeadPublisher(engine, store, gateway.audit_head_interval_s)
    publisher.start()
    return publisher


def connect_as_gateway(db_url: str, gateway: GatewaySettings) -> Engine:
    """An engine on the `aiprime` database as the gateway's own least-privilege role (`db_role`).

    Raises:
        ConfigError: the role cannot log in (not migrated yet, or it needs a password).
        ServiceUnavailable: PostgreSQL does not answer (down, or still recovering): a supervisor retries.
    """
    if not gateway.db_role:
        return connect(db_url)
    password = gateway.db_password.get_secret_value() if gateway.db_password else None
    url = parse_url(db_url).set(username=gateway.db_role, password=password)
    try:
        return connect(url.render_as_string(hide_password=False))
    except ServiceUnavailable as e:
        # Raises ServiceUnavailable (a supervisor retries) when the server itself does not answer.
        connect(db_url).dispose()
        raise ConfigError(
            f"The gateway connects to PostgreSQL as the role {gateway.db_role!r}, which could not log in "
            f"({e}). Run `aiprime services up` (migration 0005 creates the role), set its password with "
            "AIPRIME_GATEWAY_DB_PASSWORD where the server asks for one, or set AIPRIME_GATEWAY_DB_ROLE='' "
            "to use the database URL's own user."
        ) from e


def _roles_granting(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        roles = rbac.list_roles(conn)
    return {p: [r.name for r in roles if p in r.effective_permissions] for p in rbac.PERMISSIONS}


def _oidc(gateway: GatewaySettings) -> OidcIssuer | None:
    if not gateway.oidc_issuer:
        return None
    if not gateway.oidc_jwks_url:
        raise ConfigError(
            "AIPRIME_GATEWAY_OIDC_ISSUER is set but AIPRIME_GATEWAY_OIDC_JWKS_URL is not; set it to "
            "the issuer's jwks_uri (from its /.well-known/openid-configuration)."
        )
    return OidcIssuer(
        gateway.oidc_issuer,
        gateway.oidc_jwks_url,
        gateway.oidc_audience or gateway.audience,
        gateway.oidc_principal_claim,
    )
