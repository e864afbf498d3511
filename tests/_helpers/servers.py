"""Real servers on 127.0.0.1 for the tests.

`AsgiServer` binds its socket itself and hands it to uvicorn, so no other server can take the port between
choosing and binding it (what a `free_port()` then `bind` does), and it waits until the server thread has
really stopped: a server that lingers after its test would answer the next test's pooled connections.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

START_TIMEOUT_S = 30.0
GRACEFUL_S = 2.0  # open requests get this long at shutdown, then uvicorn cancels them


def raw_request(url: str, request: bytes) -> bytes:
    """Send raw bytes to the server at `url`; return what it answered before closing (b'' if nothing)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed early: what it answered before is still to read
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers in other processes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AsgiServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread; a context manager."""

    def __init__(self, app: Any, **options: Any) -> None:
        """Args: options are further `uvicorn.Config` keywords (e.g. `aiprime.gateway.server.server_options`)."""
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=GRACEFUL_S, **options
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(GRACEFUL_S + 15)
        self.socket.close()
        assert not self.thread.is_alive(), f"the server on port {self.port} did not stop"


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A request handler of the small JSON servers tests start on 127.0.0.1: HTTP/1.1, quiet, JSON in and out."""

    protocol_version = "HTTP/1.1"

    def read_json(self) -> Any:
        """The request body as JSON (None when empty)."""
        return json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"null")

    def send_json(self, status: int, document: Any) -> None:
        """Answer `status` with `document` as JSON."""
        raw = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: object) -> None:
        """No access log on the test's stderr."""


@contextlib.contextmanager
def jwks_server(key: rsa.RSAPrivateKey, kid: str) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the JWKS of `key` (as an OIDC provider does); its URL."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) | {"kid": kid, "use": "sig"}

    class Jwks(JsonHandler):
        def do_GET(self) -> None:
            self.send_json(200, {"keys": [jwk]})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
