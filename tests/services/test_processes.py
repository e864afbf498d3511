"""Background processes, pid files and port checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil
import pytest

from aiprime.errors import PortInUse, ServiceUnavailable
from aiprime.services import processes


def test_an_occupied_port_is_reported_with_the_setting_that_moves_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not processes.port_is_free("127.0.0.1", port)
        with pytest.raises(PortInUse, match="AIPRIME_MLFLOW_PORT"):
            processes.require_free_port("127.0.0.1", port, "MLflow", "AIPRIME_MLFLOW_PORT")
    assert processes.port_is_free("127.0.0.1", port)


def test_a_detached_process_is_tracked_and_stopped(tmp_path) -> None:
    pid_file, log = tmp_path / "run" / "x.pid", tmp_path / "logs" / "x.log"
    pid = processes.start_detached([sys.executable, "-c", "import time; time.sleep(60)"], pid_file, log)
    assert processes.read_pid(pid_file) == pid
    assert processes.stop_process(pid_file, timeout=5)
    assert processes.read_pid(pid_file) is None
    assert not processes.stop_process(pid_file)


def test_a_stale_pid_file_is_removed(tmp_path) -> None:
    pid_file = tmp_path / "gone.pid"
    pid_file.write_text("999999")
    assert processes.read_pid(pid_file) is None
    assert not pid_file.exists()


def test_a_server_that_dies_while_starting_quotes_its_log(tmp_path) -> None:
    pid_file, log = tmp_path / "d.pid", tmp_path / "d.log"
    processes.start_detached(
        [sys.executable, "-c", "print('bad flag --nope'); raise SystemExit(2)"], pid_file, log
    )
    with pytest.raises(ServiceUnavailable, match="bad flag --nope"):
        processes.wait_http("http://127.0.0.1:9/health", 20, pid_file, log, "demo")


def test_a_pid_file_naming_a_reused_pid_is_stale_and_that_process_is_never_signalled(tmp_path) -> None:
    """After pid reuse the pid names an unrelated process: its start time differs from the recorded one."""
    unrelated = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        pid_file = tmp_path / "reused.pid"
        pid_file.write_text(f"{unrelated.pid} {psutil.Process(unrelated.pid).create_time() - 50.0!r}")
        assert processes.read_pid(pid_file) is None
        assert not processes.stop_process(pid_file)
        assert unrelated.poll() is None, "stop_process signalled a process it did not start"
    finally:
        unrelated.kill()
        unrelated.wait()


def test_an_old_pid_file_without_a_start_time_is_stale_once_a_newer_process_has_its_pid(tmp_path) -> None:
    pid_file = tmp_path / "old.pid"
    pid_file.write_text("1")  # written before the newer format; pid 1 started long before the file
    assert processes.read_pid(pid_file) == 1
    os.utime(pid_file, (0, 0))  # a file older than the process that has the pid now
    assert processes.read_pid(pid_file) is None
