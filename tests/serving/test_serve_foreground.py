"""`aiprime serve` in the foreground stops every server it started on one Ctrl-C, even with SIGINT ignored.

A background job of a non-interactive shell starts with SIGINT ignored; the command sets its own handlers
(`aiprime.services.supervise.stop_signals`), so Ctrl-C still stops the router and every model server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _helpers.processes import ignore_sigint, running

from aiprime.serving import launcher
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 420
STOP_BUDGET_S = 10.0


def _wait_for_stack(process: subprocess.Popen, settings: Settings, log: Path) -> launcher.Stack:
    deadline = time.monotonic() + START_TIMEOUT_S
    while (stack := launcher.running(settings)) is None or stack.servers.keys() - _pids(settings).keys():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)
    return stack


def _pids(settings: Settings) -> dict[str, int]:
    run = launcher.state_dir(settings) / "run"
    return {p.stem: int(p.read_text().split()[0]) for p in run.glob("*.pid")}


@pytest.mark.slow
def test_ctrl_c_stops_every_server_even_with_sigint_ignored(tiny_models: dict[str, Path], tmp_path) -> None:
    home = tmp_path / "home"
    models_dir = next(iter(tiny_models.values())).parent  # gate/, expert-<name>/ side by side
    log = tmp_path / "serve.log"
    argv = [
        str(Path(sys.executable).with_name("aiprime")),
        "serve",
        "--port",
        "0",
        "--models-dir",
        str(models_dir),
    ]
    with log.open("wb") as out:
        serve = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, "AIPRIME_HOME": str(home)}, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=ignore_sigint,  # noqa: PLW1509 - the inherited disposition is what is under test
        )  # fmt: skip
    settings = Settings(home=home, _env_file=None)
    try:
        _wait_for_stack(serve, settings, log)
        servers = _pids(settings)
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=STOP_BUDGET_S)
        left = [name for name, pid in servers.items() if running(pid)]
        assert not left, f"still running after Ctrl-C: {left}\n{log.read_text()[-2000:]}"
        assert launcher.running(settings) is None
    finally:
        serve.kill()
        launcher.kill(settings)
