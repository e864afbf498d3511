"""The processes a test session started and left running (the session-end check in `tests/conftest.py`).

Every process the session starts inherits a marker variable with the session's token, so the check finds
them however they were started (detached, double-forked, reparented to init), and nothing of other sessions.
Processes that clear their environment are not seen: there are none among ours that outlive a test.
"""

from __future__ import annotations

import os
import time
import uuid

import psutil

MARK = "AIPRIME_TEST_SESSION"


def mark_session() -> str:
    """Give every process this session starts from now on a new token (a nested session gets its own)."""
    os.environ[MARK] = uuid.uuid4().hex
    return os.environ[MARK]


def started_by_session(token: str) -> list[psutil.Process]:
    """The running processes (not zombies, not this one) that carry the session's token."""
    found = []
    for proc in psutil.process_iter(["status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.environ().get(MARK) == token:
                found.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def leftovers(token: str, wait_s: float = 15.0) -> list[str]:
    """Wait up to `wait_s` for the session's processes to exit; describe and SIGKILL those that did not."""
    deadline = time.monotonic() + wait_s
    while (procs := started_by_session(token)) and time.monotonic() < deadline:
        time.sleep(0.5)
    described = [_describe(proc) for proc in procs]
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return [d for d in described if d]


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:300]}"
    except psutil.NoSuchProcess:
        return ""
