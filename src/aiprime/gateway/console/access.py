"""The console's address and a login link for the local admin, for `aiprime run`'s closing summary."""

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
    identity = _local_admin(engine, user)
    key = load_signing_key(secret_store(settings, gateway))
    issuer = TokenIssuer(key, gateway.issuer, gateway.audience, gateway.token_ttl_s)
    token, ttl = issuer.issue(identity.name, identity.kind, identity.principal_id)
    url = f"{(base_url or f'http://{settings.host}:{GATEWAY_PORT}').rstrip('/')}/console/"
    return ConsoleLogin(url, f"{url}#login={token}", identity.name, ttl)


def _local_admin(engine: Engine, user: str) -> rbac.Identity:
    """The identity of `user`, first created as a password-less user holding `admin` when it is absent."""
    with engine.connect() as conn:
        found = rbac.identity(conn, user)
    if found is None:
        Admin(engine).add_principal(ACTOR, user, "user")
        Admin(engine).grant(ACTOR, user, "admin")
        with engine.connect() as conn:
            found = rbac.identity(conn, user)
    return found
