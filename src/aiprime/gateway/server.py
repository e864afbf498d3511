"""How uvicorn serves the gateway: bounded request headers (431), and no forwarded header believed.

uvicorn's httptools parser reads a request's headers whatever their size (a 100 MB header was read and
answered), so `BoundedHttpTools` counts the request line and header bytes before parsing them and answers
431 past `max_header_bytes` (its h11 parser, when chosen, answers 400 past the same size). uvicorn's own
`X-Forwarded-For` handling is turned off: by default it believes any loopback peer, and the gateway decides
itself which proxies to trust (`AIPRIME_GATEWAY_TRUSTED_PROXIES`, see `aiprime.gateway.requestchecks`).
"""

from __future__ import annotations

from typing import Any

import uvicorn

from aiprime.gateway.config import GatewaySettings
from aiprime.gateway.responses import error_body
from aiprime.serving.bounded_http import HeaderBoundedHttpTools


class BoundedHttpTools(HeaderBoundedHttpTools):
    """uvicorn's httptools protocol, answering 431 once a request's headers outgrow the configured size."""

    def refusal_body(self, limit: int) -> bytes:
        message = (
            f"The request's headers exceed {limit} bytes (AIPRIME_GATEWAY_MAX_HEADER_BYTES); "
            "send a shorter URL or fewer, smaller headers."
        )
        return error_body("headers_too_large", message, None)


def server_options(gateway: GatewaySettings) -> dict[str, Any]:
    """The uvicorn options that bound headers and ignore forwarded headers (`uvicorn.Config` keywords)."""
    return {
        "http": BoundedHttpTools,
        "h11_max_incomplete_event_size": gateway.max_header_bytes,
        "proxy_headers": False,
        "server_header": False,
    }


def server_config(app: Any, gateway: GatewaySettings, **options: Any) -> uvicorn.Config:
    """The uvicorn config that serves the gateway `app` (options: host, port, log settings, ...)."""
    return uvicorn.Config(app, **server_options(gateway), **options)
