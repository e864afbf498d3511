"""What the benches that start servers on 127.0.0.1 share: a free port, and waiting for a server to answer.

Benches run as `python bench/NAME.py`, so this folder is on `sys.path`: `from _loopback import free_port`.
"""

from __future__ import annotations

import socket
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, what: str, timeout_s: float = 120) -> None:
    """Return once GET `url` answers 200; TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} at {url} did not answer within {timeout_s:g} s")
