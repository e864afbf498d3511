"""Real servers on 127.0.0.1 for the gateway tests: a small upstream, gateways under uvicorn, principals."""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _helpers.gateways import Gateway, start_gateway
from _helpers.servers import JsonHandler

from aiprime.db.engine import connect
from aiprime.gateway import GatewaySettings
from aiprime.security.admin import Actor, Admin

ROLES = ("viewer", "operator", "deployer", "admin", "auditor")
UPSTREAM_NAMES = ("predict", "explain", "ask", "search", "ingest", "train", "deploy")


@dataclass
class Upstream:
    """A real HTTP/1.1 server: `/` echoes, `/slow` sleeps 2 s, `/fail` answers KServe's 500 error."""

    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    def last(self) -> dict[str, Any]:
        """The last request it received: path, headers (lower-case names) and JSON body."""
        return self.seen[-1]


def _handler(upstream: Upstream) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            if self.headers.get("content-type") == "application/octet-stream":  # media routes
                body = {"bytes": len(self.rfile.read(int(self.headers.get("content-length", 0))))}
            else:
                body = self.read_json()
            upstream.seen.append(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            )
            if self.path == "/slow":
                time.sleep(2)
            status, answer = (
                (500, {"error": "Failed to process request", "cause": "expert-2 is down"})
                if self.path == "/fail"
                else (200, {"predictions": ["ok"], "echo": body})
            )
            self.send_json(status, answer)

    return Handler


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The small upstream every gateway in these tests forwards to."""
    up = Upstream("")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(up))
    up.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield up
    server.shutdown()


def settings_for(upstream_url: str, **overrides: Any) -> GatewaySettings:
    """Gateway settings with every upstream at `upstream_url`, ignoring the environment."""
    urls = {f"{name}_url": upstream_url for name in UPSTREAM_NAMES}
    return GatewaySettings(_env_file=None, **(urls | overrides))


@pytest.fixture
def make_gateway(app_db_url: str, upstream: Upstream, tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Start gateways with settings overridden per test (`make_gateway(rate_per_s=1)`, `db_url=...` for
    another database); stopped after it."""
    started: list[Gateway] = []

    def make(**overrides: Any) -> Gateway:
        kwargs = {k: overrides.pop(k) for k in ("tracer_provider", "secrets", "registry") if k in overrides}
        db_url = overrides.pop("db_url", app_db_url)
        gw = start_gateway(
            db_url, tmp_path / f"home{len(started)}", settings_for(upstream.url, **overrides), **kwargs
        )
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture(scope="module")
def gateway(
    app_db_url: str, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """One gateway for a whole test module, with default limits and every upstream configured."""
    gw = start_gateway(app_db_url, tmp_path_factory.mktemp("gateway-home"), settings_for(upstream.url))
    yield gw
    gw.stop()


class Principals:
    """Creates uniquely named principals with roles and API keys through the audited admin API."""

    def __init__(self, db_url: str) -> None:
        self.admin = Admin(connect(db_url))
        self.actor = Actor("tests")

    def service(self, *roles: str) -> tuple[str, str]:
        """A new service account holding `roles`; returns (name, API key)."""
        name = f"svc-{'-'.join(roles) or 'none'}-{uuid.uuid4().hex[:8]}"
        self.admin.add_principal(self.actor, name, "service")
        for role in roles:
            self.admin.grant(self.actor, name, role)
        return name, self.admin.create_key(self.actor, name).token

    def user(self, password: str, *roles: str, kind: str = "user") -> str:
        """A new user (or external subject) holding `roles`; returns its name."""
        name = f"user-{uuid.uuid4().hex[:8]}"
        self.admin.add_principal(self.actor, name, kind, password if kind == "user" else None)
        for role in roles:
            self.admin.grant(self.actor, name, role)
        return name


@pytest.fixture(scope="session")
def principals(app_db_url: str) -> Principals:
    """The principal factory on the session's database."""
    return Principals(app_db_url)
