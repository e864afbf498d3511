"""A KServe model server in its own process (`python kserve/<role> ...`), as the launcher starts one."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Self

import httpx
import psutil

from _helpers.servers import free_port

REPO = Path(__file__).resolve().parents[2]


class ModelServerProcess:
    """`python kserve/<role> --http_port P ARGS` on a free port, ready once `/v2/models/<name>/ready` answers 200,
    stopped with SIGTERM; usable as a context manager (enter waits until ready)."""

    def __init__(self, role: str, args: list[str], log: Path, *, name: str | None = None,
                 env: Mapping[str, str] | None = None, ready_timeout_s: float = 180.0) -> None:  # fmt: skip
        self.name, self.log, self.ready_timeout_s = name or role, log, ready_timeout_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(REPO / "kserve" / role), "--http_port", str(self.port), *args]
        with log.open("wb") as out:
            self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def predict_url(self) -> str:
        """The v1 predict endpoint."""
        return f"{self.url}/v1/models/{self.name}:predict"

    def predict(self, body: Any, timeout_s: float = 600) -> httpx.Response:
        """POST `body` to the v1 predict endpoint."""
        return httpx.post(self.predict_url, json=body, timeout=timeout_s)

    def wait_ready(self) -> None:
        """Return once the server is ready; fail with its log if it exits or does not get ready in time."""
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/v2/models/{self.name}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} on {self.url} did not become ready; see {self.log}")

    def stop(self) -> None:
        """SIGTERM, then wait for the process to exit."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)

    def __enter__(self) -> Self:
        self.wait_ready()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def ignore_sigint() -> None:
    """A `preexec_fn`: start the child with SIGINT ignored, as a background job of a script starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def aiprime_server(args: list[str], port: int, log: Path, env: Mapping[str, str]) -> Iterator[str]:
    """`aiprime ARGS --port PORT` in its own process until its /healthz answers 200; yields its URL, then
    SIGTERMs it and waits for it to exit."""
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("aiprime")), *args, "--port", str(port)]
    with serving_process(command, f"{url}/healthz", log, env):
        yield url


@contextlib.contextmanager
def serving_process(
    command: list[str], ready_url: str, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """`command` in its own process (output to `log`) until GET `ready_url` answers 200; yields the process,
    then SIGTERMs it and waits for it to exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180.0
        while not _answers(ready_url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: stop it anyway, as a second Ctrl-C would
            process.kill()
            process.wait(timeout=30)


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code == 200
    return False
