"""Long-running commands stop with everything they started, on SIGTERM and on SIGINT, whatever the parent did.

Each test runs a real driver process (`run_supervised` over a child that starts grandchildren, one of them in
a session of its own) started with SIGINT ignored, as a background job of a non-interactive shell is.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from _helpers.processes import ignore_sigint, running

STOP_BUDGET_S = 10.0  # the promise: everything gone within 10 s of the signal

# The child: two grandchildren (one escapes into its own session), their pids written out, then it waits.
CHILD = """
import json, subprocess, sys, time, signal
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
kids = [subprocess.Popen(sleeper), subprocess.Popen(sleeper, start_new_session=True)]
open(sys.argv[1], "w").write(json.dumps([p.pid for p in kids]))
time.sleep(600)
"""
DRIVER = """
import sys
from aiprime.services.supervise import run_supervised
sys.exit(run_supervised([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]], grace_s=float(sys.argv[4])))
"""


def _start(tmp_path: Path, mode: str = "plain", grace_s: float = 8.0) -> tuple[subprocess.Popen, list[int]]:
    """The driver with SIGINT ignored, once its tree is up; returns it and every pid below it."""
    pids_file = tmp_path / "pids.json"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, CHILD, str(pids_file), mode, str(grace_s)],
        preexec_fn=ignore_sigint,  # noqa: PLW1509 - the inherited disposition is what is under test
    )
    deadline = time.monotonic() + 60
    while not (pids_file.exists() and pids_file.read_text()):
        assert driver.poll() is None and time.monotonic() < deadline, "the child tree did not start"
        time.sleep(0.1)
    grandchildren = json.loads(pids_file.read_text())
    child = psutil.Process(driver.pid).children()[0].pid
    return driver, [child, *grandchildren]


def _stopped_within(driver: subprocess.Popen, pids: list[int], seconds: float) -> list[int]:
    """Wait for the driver and its tree; return the pids still running after `seconds`."""
    deadline = time.monotonic() + seconds
    try:
        driver.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return [driver.pid, *pids]
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if running(p)]


def _kill_all(driver: subprocess.Popen, pids: list[int]) -> None:
    for pid in [driver.pid, *pids]:
        if running(pid):
            psutil.Process(pid).kill()
    driver.wait(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_stops_the_whole_tree_even_with_sigint_ignored_by_the_parent(tmp_path, sig) -> None:
    driver, pids = _start(tmp_path)
    try:
        driver.send_signal(sig)
        left = _stopped_within(driver, pids, STOP_BUDGET_S)
        assert not left, f"still running {STOP_BUDGET_S:.0f} s after {sig.name}: {left}"
    finally:
        _kill_all(driver, pids)


def test_a_second_signal_stops_at_once_when_the_clean_stop_hangs(tmp_path) -> None:
    """The child ignores SIGTERM and the clean stop may wait 120 s; the second Ctrl-C does not wait."""
    driver, pids = _start(tmp_path, mode="ignore-term", grace_s=120)
    try:
        driver.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert driver.poll() is None, "the clean stop should still be waiting for the child"
        driver.send_signal(signal.SIGINT)
        left = _stopped_within(driver, pids, 5.0)
        assert not left, f"still running 5 s after the second Ctrl-C: {left}"
        assert driver.returncode == 130
    finally:
        _kill_all(driver, pids)


def test_the_child_starts_with_sigint_at_its_default_so_it_can_be_interrupted(tmp_path) -> None:
    driver, pids = _start(tmp_path)
    try:
        ignored = int(Path(f"/proc/{pids[0]}/status").read_text().split("SigIgn:")[1].split()[0], 16)
        assert not ignored & (1 << (signal.SIGINT - 1)), "the child inherited an ignored SIGINT"
    finally:
        _kill_all(driver, pids)


# Work in the driver's own process (as `aiprime run` does it), with a child run by subprocess.run.
INTERRUPTIBLE = """
import subprocess, sys
from aiprime.services.supervise import interrupt_on_stop_signals
child = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
kept = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
open(sys.argv[2], "w").write(str(kept.pid))
with interrupt_on_stop_signals():
    with subprocess.Popen([sys.executable, "-c", child, sys.argv[1]]) as task:  # as kfp.local runs a task
        task.wait()
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_work_in_the_process_is_interrupted_and_its_child_ended_by_either_signal(tmp_path, sig) -> None:
    """A task child is ended; a detached one (a service meant to keep running) is left alone."""
    pid_file, kept_file = tmp_path / "child.pid", tmp_path / "kept.pid"
    driver = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, str(pid_file), str(kept_file)],
        preexec_fn=ignore_sigint,  # noqa: PLW1509 - the inherited disposition is what is under test
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()):
        assert driver.poll() is None and time.monotonic() < deadline, "the child did not start"
        time.sleep(0.1)
    child, kept = int(pid_file.read_text()), int(kept_file.read_text())
    try:
        driver.send_signal(sig)
        left = _stopped_within(driver, [child], STOP_BUDGET_S)
        assert not left, f"still running {STOP_BUDGET_S:.0f} s after {sig.name}: {left}"
        assert running(kept), "a detached child (a service) was stopped too"
    finally:
        _kill_all(driver, [child, kept])
