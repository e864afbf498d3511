"""Headless Chromium driven over the DevTools protocol (a loopback websocket), for tests of web pages.

`browser(chromium, profile)` starts Chromium with a debugging port chosen by itself (read back from
`DevToolsActivePort`), and yields the first page as a `Page`: navigate, evaluate JavaScript, press keys,
type, take screenshots. Python's playwright is not needed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

START_TIMEOUT_S = 30
KEYS = {"Tab": 9, "Enter": 13, "Escape": 27}
SHIFT = 8  # the DevTools protocol's modifier bit


def chromium_or_skip(purpose: str) -> str:
    """The path of Debian's `chromium`; the test skips, saying so, when it is not installed."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(f"chromium is not on PATH: `apt-get install chromium` (Debian) to {purpose}")
    return path


class Page:
    """One browser tab, spoken to over its DevTools websocket."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.last_id = 0

    def send(self, method: str, **params: Any) -> dict:
        """Call a DevTools method and return its result (events that arrive meanwhile are dropped)."""
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.last_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited); raises on a thrown exception."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, f"{expression[:200]}: {result['exceptionDetails']}"
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(
            f"not true within {timeout_s} s: {expression}\n{self.evaluate('document.body.innerText')}"
        )

    def open(self, url: str) -> None:
        """Navigate to `url` and wait until its document and deferred scripts loaded."""
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def press(self, key: str, shift: bool = False) -> None:
        """Press and release a key (Tab, Enter, Escape) as a keyboard does."""
        code = KEYS[key]
        common = {"key": key, "code": key, "windowsVirtualKeyCode": code, "modifiers": SHIFT if shift else 0}
        text = {"text": "\r"} if key == "Enter" else {}
        self.send("Input.dispatchKeyEvent", type="keyDown", **common, **text)
        self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    def type(self, text: str) -> None:
        """Type `text` into the focused control."""
        self.send("Input.insertText", text=text)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG at `path`."""
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.contextmanager
def browser(chromium: str, profile: Path, window: str = "1280,1000") -> Iterator[Page]:
    """Headless Chromium with a fresh profile in `profile`; its first tab. Stopped afterwards."""
    argv = [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-extensions",
        f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
        f"--window-size={window}", "about:blank",
    ]  # fmt: skip
    log = profile.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out)
    page = None
    try:
        port = _debugging_port(profile, process, log)
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        yield page
    finally:
        if page is not None:
            page.ws.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _debugging_port(profile: Path, process: subprocess.Popen, log: Path) -> int:
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"chromium exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        if active.is_file() and active.read_text().strip():
            return int(active.read_text().split()[0])
        time.sleep(0.1)
    raise AssertionError(f"chromium wrote no DevToolsActivePort within {START_TIMEOUT_S} s")
