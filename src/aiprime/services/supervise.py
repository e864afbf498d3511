"""Stop on SIGINT and SIGTERM, whatever the parent left them at, and take every started process along.

A supervisor (systemd, Kubernetes, a CI runner) stops a process with SIGTERM; a person presses Ctrl-C in
whatever shell they are in, and a background job of a non-interactive shell starts with SIGINT *ignored*,
which every child inherits. So the long-running commands set both dispositions themselves (`stop_signals`):
the first signal starts a clean stop, a second one stops at once. `run_supervised` runs one child command
(its own session, signals at their defaults) that way, and ends its whole process tree.
`interrupt_on_stop_signals` is for work in this process: both signals interrupt it as Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_S = 5.0  # before SIGKILL: Dagster stops in 5-6 s; with our own exit the stop stays within 10 s


class StopRequested(Exception):
    """The first SIGINT or SIGTERM arrived: stop cleanly (not an error a user sees)."""


@contextmanager
def stop_signals(stop_now: Callable[[], None]) -> Iterator[None]:
    """Within: the first SIGINT/SIGTERM raises StopRequested, any later one calls `stop_now` and exits 130.

    The handlers replace any inherited disposition, an ignored SIGINT included; on exec a handled signal
    resets to its default, so children started within also stop on SIGINT. The previous handlers return after.
    """
    received = 0

    def handle(signum: int, frame: object) -> None:
        nonlocal received
        received += 1
        if received == 1:
            raise StopRequested(signal.Signals(signum).name)
        stop_now()
        os._exit(130)  # the second signal: no clean-up left to wait for

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """Within: SIGINT and SIGTERM both end this process's children and raise KeyboardInterrupt, whatever the
    parent left them at.

    For work done in this process (`aiprime run`): Dagster stops its steps as on Ctrl-C, and a child such as
    a `kfp.local` task (which `with Popen(...)` would wait for) gets SIGTERM instead of outliving the stop.
    Children started in a session of their own (the services and the serving stack, meant to keep running)
    are left alone.
    """
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: object) -> None:
    session = os.getsid(0)
    for proc in psutil.Process().children(recursive=True):
        try:
            if os.getsid(proc.pid) == session:
                _send(proc, signal.SIGTERM)
        except ProcessLookupError:
            pass
    raise KeyboardInterrupt


def run_supervised(
    argv: Sequence[str], env: Mapping[str, str] | None = None, grace_s: float = GRACE_S
) -> int:
    """Run `argv` until it exits or this process gets SIGINT/SIGTERM; then end its whole tree.

    Returns:
        the child's exit code (after a stop: its code, or -9 when it had to be killed).
    """
    tree = ProcessTree()
    with stop_signals(lambda: tree.kill()):
        child = subprocess.Popen(
            list(argv), env=dict(env) if env is not None else None, start_new_session=True
        )
        tree.root = child.pid
        try:
            return child.wait()
        except StopRequested:
            tree.terminate(grace_s)
            return child.wait()


class ProcessTree:
    """A process and every descendant it ever had while watched (children reparented away are kept)."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root
        self.seen: dict[int, psutil.Process] = {}

    def refresh(self) -> list[psutil.Process]:
        """Record the current descendants; return every recorded process still running (not a zombie)."""
        if self.root is not None:
            try:
                root = psutil.Process(self.root)
                for proc in [root, *root.children(recursive=True)]:
                    self.seen.setdefault(proc.pid, proc)
            except psutil.NoSuchProcess:
                pass
        return [proc for proc in self.seen.values() if _running(proc)]

    def terminate(self, grace_s: float) -> None:
        """SIGTERM every process of the tree (and the root's group), SIGKILL what still runs after `grace_s`."""
        alive = self.refresh()
        self._signal_group(signal.SIGTERM)
        for proc in alive:
            _send(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.refresh():  # polls: waiting would reap our child
            time.sleep(0.1)
        for proc in self.refresh():
            _send(proc, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL every process of the tree at once."""
        self._signal_group(signal.SIGKILL)
        for proc in self.refresh():
            _send(proc, signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.root is not None:
            try:
                os.killpg(self.root, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _send(proc: psutil.Process, sig: signal.Signals) -> None:
    try:
        proc.send_signal(sig)  # psutil checks the pid still names the same process (its start time)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
