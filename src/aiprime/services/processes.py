"""Detached background processes tracked by pid files, and the port and HTTP checks around them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from aiprime.errors import PortInUse, ServiceUnavailable


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (a bind test, so it also catches other users' processes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(host: str, port: int, service: str, setting: str) -> None:
    """Raise PortInUse naming the service, the port and the setting that moves it."""
    if not port_is_free(host, port):
        raise PortInUse(
            f"Port {port} on {host} is in use by another process, so {service} cannot start. "
            f"Stop that process (`ss -ltnp 'sport = :{port}'` shows it) or set {setting} to a free port."
        )


def read_pid(pid_file: Path) -> int | None:
    """The pid in `pid_file` if that very process still runs, else None (a stale file is removed).

    The file records the pid with the process's start time, so a pid the kernel has since given to an
    unrelated process does not count (and is never signalled).
    """
    try:
        fields = pid_file.read_text().split()
        pid, started = int(fields[0]), float(fields[1]) if len(fields) > 1 else None
    except (FileNotFoundError, ValueError, IndexError):
        pid_file.unlink(missing_ok=True)
        return None
    if not _alive(pid) or not _started_as_recorded(pid, started, pid_file):
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _started_as_recorded(pid: int, started: float | None, pid_file: Path) -> bool:
    """Whether `pid` is the process the file recorded: the same start time (a file without one, written by an
    older version, only rules out a process that started after the file was written)."""
    try:
        actual = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    if started is None:
        return actual <= pid_file.stat().st_mtime + 1.0
    return abs(actual - started) < 0.01


def start_detached(argv: list[str], pid_file: Path, log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` in its own session (it outlives this process), logging to `log_file`; return its pid."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    pid_file.write_text(f"{proc.pid} {psutil.Process(proc.pid).create_time()!r}")
    return proc.pid


def stop_process(pid_file: Path, timeout: float = 15.0) -> bool:
    """SIGTERM the process group in `pid_file`, SIGKILL it after `timeout`; return whether one was running."""
    pid = read_pid(pid_file)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def kill_process(pid_file: Path) -> None:
    """SIGKILL the process group in `pid_file` at once, if that process still runs."""
    pid = read_pid(pid_file)
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a child of ours that exited is reaped first, so it is not a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET `url` answers 2xx."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def wait_http(url: str, timeout: float, pid_file: Path, log_file: Path, service: str) -> None:
    """Wait until `url` answers 2xx; fail fast, quoting the log, if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_ok(url):
            return
        if read_pid(pid_file) is None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-3:] if log_file.exists() else []
            raise ServiceUnavailable(
                f"{service} exited while starting; last log lines: {' | '.join(tail)}. "
                f"Read {log_file} and fix the cause, then run `aiprime services up` again."
            )
        time.sleep(0.3)
    raise ServiceUnavailable(f"{service} did not answer {url} within {timeout:.0f} s; see {log_file}.")
