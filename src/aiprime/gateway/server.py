"""How uvicorn serves the gateway: bounded request headers (431), and no forwarded header believed.

uvicorn's httptools parser reads a request's headers whatever their size (a 100 MB header was read and
answered), so `BoundedHttpTools` counts the bytes received before the headers end and answers 431 past
`max_header_bytes` (its h11 parser, when chosen, answers 400 past the same size). uvicorn's own
`X-Forwarded-For` handling is turned off: by default it believes any loopback peer, and the gateway decides
itself which proxies to trust (`AIPRIME_GATEWAY_TRUSTED_PROXIES`, see `aiprime.gateway.requestchecks`).
"""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiprime.gateway.config import GatewaySettings
from aiprime.gateway.responses import error_body


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 once a request's headers outgrow the configured size."""

    _header_bytes = 0
    _reading_headers = True

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        limit = self.config.h11_max_incomplete_event_size
        if self._reading_headers and limit and self._header_bytes > limit and not self.transport.is_closing():
            self._send_431(limit)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True

    def on_headers_complete(self) -> None:
        self._reading_headers, self._header_bytes = False, 0
        super().on_headers_complete()

    def _send_431(self, limit: int) -> None:
        message = (
            f"The request's headers exceed {limit} bytes (AIPRIME_GATEWAY_MAX_HEADER_BYTES); "
            "send a shorter URL or fewer, smaller headers."
        )
        body = error_body("headers_too_large", message, None)
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()


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
