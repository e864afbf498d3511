"""A real gateway for tests: the app served by uvicorn on 127.0.0.1 in a background thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from _helpers.servers import AsgiServer
from aiprime.gateway import GatewaySettings, create_app
from aiprime.gateway.server import server_options
from aiprime.settings import Settings


@dataclass
class Gateway:
    """A gateway served by uvicorn on 127.0.0.1 in a background thread."""

    app: Any
    served: AsgiServer

    @property
    def url(self) -> str:
        return self.served.url

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for this gateway, sending `token` as the bearer credential."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def token(self, name: str, api_key: str) -> str:
        """An access token from this gateway's client-credentials grant."""
        with self.client() as client:
            answer = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "client_id": name, "client_secret": api_key},
            )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def flush_audit(self) -> None:
        """Wait until every request answered so far is in the audit log."""
        assert self.app.state.runtime.audit.flush(10), "the audit writer did not catch up within 10 s"

    def stop(self) -> None:
        """Shut it down (the lifespan flushes the audit log)."""
        self.served.__exit__()


def start_gateway(
    db_url: str,
    home: Path,
    gateway: GatewaySettings,
    extensions: Sequence[Callable[[Any], None]] = (),
    **kwargs: Any,
) -> Gateway:
    """Create the app, extend it (routes of a higher layer: `aiprime.agents.api.install`), and serve it;
    return once it accepts requests."""
    app = create_app(Settings(home=home, _env_file=None), gateway, db_url=db_url, **kwargs)
    for extend in extensions:
        extend(app)
    return Gateway(app, AsgiServer(app, **server_options(gateway)).__enter__())
