"""`aiprime router` and `aiprime gateway` stop on SIGTERM and on Ctrl-C, even when started with SIGINT ignored.

A background job of a non-interactive shell starts with SIGINT ignored, and every child inherits that; a
supervisor stops with SIGTERM. Both must end the command within 10 s. (`aiprime ui`: tests/orchestration/
test_ui.py; `aiprime serve` in the foreground shares `run_supervised`'s handling: tests/services/.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _helpers import free_port
from _helpers.processes import ignore_sigint

REPO = Path(__file__).resolve().parents[2]
AIPRIME = str(Path(sys.executable).with_name("aiprime"))
STOP_BUDGET_S = 10.0
GRAPH = """apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: one-step}
spec:
  nodes:
    root:
      routerType: Sequence
      steps: [{name: only, serviceName: only}]
"""


def _start(argv: list[str], health_url: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=ignore_sigint,  # noqa: PLW1509 - the inherited disposition is what is under test
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(health_url, timeout=2).status_code < 500:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    pytest.fail(f"{argv[1]} did not answer {health_url}: {log.read_text()[-3000:]}")


def _stops_within_budget(process: subprocess.Popen, sig: signal.Signals) -> bool:
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_BUDGET_S)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_router_stops_on_a_signal_with_sigint_ignored_by_its_parent(tmp_path, sig) -> None:
    (tmp_path / "graph.yaml").write_text(GRAPH)
    (tmp_path / "services.yaml").write_text(f"only: http://127.0.0.1:{free_port()}/v1/models/only:predict\n")
    port = free_port()
    argv = [AIPRIME, "router", "--graph", str(tmp_path / "graph.yaml"), "--services",
            str(tmp_path / "services.yaml"), "--port", str(port)]  # fmt: skip
    router = _start(argv, f"http://127.0.0.1:{port}/healthz", tmp_path / "router.log", {})
    assert _stops_within_budget(router, sig), f"the router still ran {STOP_BUDGET_S:.0f} s after {sig.name}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_gateway_stops_on_a_signal_with_sigint_ignored_by_its_parent(
    tmp_path, sig, pg_server_url
) -> None:
    port = free_port()
    env = {"AIPRIME_HOME": str(tmp_path / "home"), "AIPRIME_DATABASE_URL": pg_server_url}
    argv = [AIPRIME, "gateway", "--port", str(port), "--upstream", f"http://127.0.0.1:{free_port()}"]
    gateway = _start(argv, f"http://127.0.0.1:{port}/healthz", tmp_path / "gateway.log", env)
    assert _stops_within_budget(gateway, sig), f"the gateway still ran {STOP_BUDGET_S:.0f} s after {sig.name}"
