"""The session-end check (`_helpers.leftovers`): it names and kills what a session left running, and only that."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from _helpers.leftovers import MARK, leftovers
from _helpers.processes import running

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_a_process_left_by_the_session_is_named_and_killed_and_another_sessions_is_not() -> None:
    token = uuid.uuid4().hex
    ours = subprocess.Popen(SLEEPER, env={**os.environ, MARK: token}, start_new_session=True)
    theirs = subprocess.Popen(SLEEPER, env={**os.environ, MARK: uuid.uuid4().hex}, start_new_session=True)
    try:
        left = leftovers(token, wait_s=0.5)
        ours.wait(timeout=10)
        assert [line.split(":")[0] for line in left] == [f"pid {ours.pid}"] and "time.sleep" in left[0]
        assert running(theirs.pid), "a process of another session was killed"
        assert leftovers(token, wait_s=0.1) == []
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
