"""Background processes, pid files and port checks."""

from __future__ import annotations

import socket
import sys

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
