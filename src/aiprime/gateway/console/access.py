"""The console's address and a login link for the local admin, for `aiprime run`'s closing summary; and the
token of the run's own service account, which its sample queries go through the gateway as."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from aiprime.gateway.config import GatewaySettings, secret_store
from aiprime.security import rbac
from aiprime.security.admin import Actor, Admin
from aiprime.security.secrets import load_signing_key
from aiprime.security.tokens import TokenIssuer
from aiprime.settings import Settings

LOCAL_ADMIN = "admin"  # the local user the summary's login link is for; created with the role admin
GATEWAY_PORT = 8000  # `aiprime gateway`'s default port
ACTOR = Actor("system:console-login")  # who the audit log says created the local admin
RUN_ACCOUNT = "aiprime-run"  # the service account `aiprime run` asks its sample queries as (role viewer)
RUN_ACTOR = Actor("system:aiprime-run")  # who the audit log says created it


@dataclass(frozen=True)
class ConsoleLogin:
    """Where the console is, and a link that logs the local admin in until the token in it expires."""

    url: str  # the console page, e.g. http://127.0.0.1:8000/console/
    login_url: str  # the same page with an access token in its fragment (never sent to a server)
    user: str
    expires_in_s: int

    def __str__(self) -> str:
        return f"{self.url} (log in as {self.user}: {self.login_url}, valid {self.expires_in_s // 60} min)"


def console_login(
    settings: Settings,
    engine: Engine,
    gateway: GatewaySettings | None = None,
    base_url: str | None = None,
    user: str = LOCAL_ADMIN,
) -> ConsoleLogin:
    """The console's URL and a fresh login link for `user` (created with the role `admin` if absent).

    The link carries one of the gateway's own access tokens in its fragment (`#login=...`): the page takes
    it, removes it from the address bar, and it stops working after `token_ttl_s` (15 min by default).

    Args:
        settings: the platform's settings (where the gateway's signing key is kept).
        engine: the `aiprime` database (`aiprime.db.engine.open_app_db`).
        gateway: the gateway's settings; None reads AIPRIME_GATEWAY_* variables.
        base_url: where the gateway answers; None: `http://<AIPRIME_HOST>:8000`.
        user: the local user to log in.
    """
    gateway = gateway or GatewaySettings()
    token, ttl = _token(settings, gateway, _principal(engine, user, "user", "admin", ACTOR))
    url = f"{(base_url or f'http://{settings.host}:{GATEWAY_PORT}').rstrip('/')}/console/"
    return ConsoleLogin(url, f"{url}#login={token}", user, ttl)


def run_token(settings: Settings, engine: Engine, gateway: GatewaySettings | None = None) -> str:
    """A fresh access token of the service account `aiprime-run` (created holding `viewer`, which may `ask`,
    when it is absent): the principal the gateway's audit log names for `aiprime run`'s sample queries."""
    identity = _principal(engine, RUN_ACCOUNT, "service", "viewer", RUN_ACTOR)
    return _token(settings, gateway or GatewaySettings(), identity)[0]


def _token(settings: Settings, gateway: GatewaySettings, identity: rbac.Identity) -> tuple[str, int]:
    """One of the gateway's own access tokens for `identity`, and its lifetime in seconds."""
    key = load_signing_key(secret_store(settings, gateway))
    issuer = TokenIssuer(key, gateway.issuer, gateway.audience, gateway.token_ttl_s)
    return issuer.issue(identity.name, identity.kind, identity.principal_id)


def _principal(engine: Engine, name: str, kind: str, role: str, actor: Actor) -> rbac.Identity:
    """The identity of `name`, first created (password-less, of `kind`) holding `role` when it is absent."""
    with engine.connect() as conn:
        found = rbac.identity(conn, name)
    if found is None:
        Admin(engine).add_principal(actor, name, kind)
        Admin(engine).grant(actor, name, role)
        with engine.connect() as conn:
            found = rbac.identity(conn, name)
    return found
