"""Escape attempts against the agents' Python sandbox (bubblewrap + seccomp + resource limits): each is contained.

Every network attempt targets a listener on 127.0.0.1 that the test itself starts, never another address.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiprime.agents.sandbox import BWRAP, SandboxLimits, SandboxResult, run_python

pytestmark = pytest.mark.skipif(not Path(BWRAP).exists(), reason="bubblewrap is not installed (make setup)")

SECRET = "aiprime-sandbox-test-secret-7f3a"
FAST = SandboxLimits(wall_s=5, cpu_s=2)


def run(code: str, limits: SandboxLimits = FAST) -> SandboxResult:
    return run_python(textwrap.dedent(code), limits)


def refused(code: str) -> SandboxResult:
    """Run `code`, which prints REFUSED when its attempt raised; assert it did."""
    result = run(code)
    assert "REFUSED" in result.stdout, (result.status, result.stdout, result.stderr)
    assert "ESCAPED" not in result.stdout
    return result


LIBC = "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True)\n"


@pytest.fixture
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP listener on 127.0.0.1 owned by the test, recording every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    server.settimeout(0.2)

    def accept() -> None:
        while server.fileno() != -1:
            try:
                accepted.append(server.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()
    thread.join(2)


def test_a_plain_program_runs_as_nobody_with_an_empty_environment() -> None:
    result = run("import os; print(os.getuid(), os.getgid(), sorted(os.environ))")
    assert result.status == "ok", result.stderr
    assert result.stdout.split()[:2] == ["65534", "65534"]
    assert "PATH" in result.stdout and "HOME" in result.stdout


def test_tcp_to_a_listener_on_the_hosts_loopback_never_arrives(listener) -> None:
    port, accepted = listener
    refused(f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2); print("ESCAPED")
        except OSError as e:
            print("REFUSED", e)
    """)
    assert accepted == []


def test_a_raw_socket_call_through_ctypes_is_refused_by_seccomp(listener) -> None:
    _, accepted = listener
    result = refused(
        LIBC
        + """
fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
print("REFUSED" if fd < 0 else "ESCAPED", ctypes.get_errno())
"""
    )
    assert result.stdout.split()[1] == "1"  # EPERM: the filter, not a missing network
    assert accepted == []


def test_a_unix_socket_of_the_host_is_not_reachable(tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        refused(f"""
            import socket
            try:
                socket.socket(socket.AF_UNIX).connect({str(path)!r}); print("ESCAPED")
            except OSError as e:
                print("REFUSED", e)
        """)


def test_the_environment_of_the_caller_is_not_inherited(monkeypatch) -> None:
    monkeypatch.setenv("AIPRIME_TEST_SECRET", SECRET)
    result = run("""
        import os, glob
        seen = [open(p, 'rb').read() for p in glob.glob('/proc/[0-9]*/environ')]
        print(dict(os.environ), seen)
    """)
    assert result.status == "ok", result.stderr
    assert SECRET not in result.stdout and "AIPRIME" not in result.stdout


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/shadow", "/root/.bashrc", "/proc/1/root/etc/hostname"])
def test_host_files_are_not_there(path: str) -> None:
    refused(f"""
        try:
            open({path!r}).read(); print("ESCAPED")
        except OSError as e:
            print("REFUSED", e)
    """)


def test_the_project_and_the_callers_home_are_not_mounted() -> None:
    result = run(f"""
        import os
        print([p for p in ({str(Path.cwd())!r}, {str(Path.home())!r}, '/work', '/var', '/home') if os.path.exists(p)])
    """)
    assert result.stdout.strip() == "[]", result.stdout


def test_proc_shows_only_the_sandboxs_own_processes() -> None:
    result = run("import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    pids = eval(result.stdout)  # a list of ints printed by the sandbox
    assert os.getpid() not in pids or len(pids) <= 3
    assert len(pids) <= 3, pids  # bwrap's init, the script (and its own listing)


WALK_TO_POSIX = """
importer = next(c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "BuiltinImporter")
posix = importer.load_module("posix")
"""


def test_a_subclasses_walk_to_posix_finds_no_host_to_run_commands_on() -> None:
    result = run(
        WALK_TO_POSIX
        + """
for command in ("cat /etc/passwd", "/bin/sh -c 'cat /work/main/README.md'", "ls /root"):
    print("status", posix.system(command))
"""
    )
    assert "root:" not in result.stdout + result.stderr and "AI Prime" not in result.stdout
    assert result.stdout.count("status") == 3 and "status 0" not in result.stdout, result


def test_a_subclasses_walk_to_posix_cannot_write_outside_tmp() -> None:
    result = run(
        WALK_TO_POSIX
        + """
for target in ("/usr/escaped", "/escaped", "/proc/escaped", "/dev/escaped"):
    try:
        posix.close(posix.open(target, posix.O_CREAT | posix.O_WRONLY)); print("ESCAPED", target)
    except OSError as e:
        print("REFUSED", target, e.errno)
"""
    )
    assert result.stdout.count("REFUSED") == 4 and "ESCAPED" not in result.stdout, result
    assert not Path("/usr/escaped").exists() and not Path("/escaped").exists()


def test_tmp_is_private_to_one_execution(tmp_path: Path) -> None:
    marker = f"aiprime-sandbox-marker-{os.getpid()}"
    assert run(f"open('/tmp/{marker}', 'w').write('x'); print('written')").stdout.strip() == "written"
    assert not (Path("/tmp") / marker).exists()
    assert run(f"import os; print(os.path.exists('/tmp/{marker}'))").stdout.strip() == "False"


def test_a_fork_bomb_stops_at_the_process_limit() -> None:
    result = run("""
        import os
        while True:
            os.fork()
    """)
    assert result.status in ("error", "killed", "timeout")
    assert "Resource temporarily unavailable" in result.stderr or result.status == "timeout"
    # the host still forks
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_memory_bomb_gets_memory_error() -> None:
    result = run("x = bytearray(4 * 2**30)")
    assert result.status == "error" and "MemoryError" in result.stderr


def test_signals_reach_nothing_outside(tmp_path: Path) -> None:
    sibling = subprocess.Popen(["sleep", "30"])
    try:
        result = run(f"""
            import os, signal
            for pid in (os.getppid(), 1, {os.getpid()}, {sibling.pid}, -1):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError as e:
                    pass
            print("REFUSED")
        """)
        assert sibling.poll() is None, "a process outside the sandbox was killed"
        assert result.status in ("ok", "killed")
    finally:
        sibling.kill()
        sibling.wait()


def test_no_capability_is_left() -> None:
    result = run(
        "print([l for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'CapBnd'))])"
    )
    assert result.stdout.count("0000000000000000") == 3, result.stdout


def test_setuid_root_is_refused() -> None:
    refused("""
        import os
        try:
            os.setuid(0); print("ESCAPED")
        except OSError as e:
            print("REFUSED", e)
    """)


@pytest.mark.parametrize(
    ("call", "what"),
    [
        ("libc.unshare(0x10000000)", "a new user namespace"),
        ("libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)", "a mount"),
        ("libc.ptrace(16, 1, 0, 0)", "ptrace attach to pid 1"),
        ("libc.syscall(250, 0, b'user', b'x', 0)", "keyctl"),
        ("libc.syscall(321, 0, 0, 0)", "bpf"),
        ("libc.syscall(425, 8, 0)", "io_uring_setup"),
        ("libc.sethostname(b'escaped', 7)", "sethostname"),
        ("libc.chroot(b'/tmp')", "chroot"),
    ],
)
def test_kernel_interfaces_an_escape_would_use_are_refused(call: str, what: str) -> None:
    result = refused(LIBC + f"rc = {call}\nprint('REFUSED' if rc == -1 else 'ESCAPED', ctypes.get_errno())\n")
    assert result.stdout.split()[1] != "0", what


def test_terminal_injection_is_refused() -> None:
    refused(
        LIBC
        + """
rc = libc.ioctl(0, 0x5412, ctypes.c_char_p(b"x"))  # TIOCSTI
print("REFUSED" if rc == -1 else "ESCAPED", ctypes.get_errno())
"""
    )


def test_no_descriptor_of_the_launcher_leaks_in() -> None:
    with open(__file__) as held:
        result = run("import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))")
        assert held.fileno() not in eval(result.stdout)[3:], result.stdout
    assert len(eval(result.stdout)) <= 4, result.stdout  # stdin, stdout, stderr and the listing's own


def test_an_endless_loop_stops_at_the_cpu_limit() -> None:
    result = run("while True: pass", SandboxLimits(wall_s=10, cpu_s=1))
    assert result.status == "cpu_limit", result
    assert result.exit_code == 128 + signal.SIGXCPU


def test_a_sleeping_program_stops_at_the_wall_clock() -> None:
    result = run("import time; print('started', flush=True); time.sleep(60)", SandboxLimits(wall_s=1))
    assert result.status == "timeout" and result.stdout == "started\n"


def test_a_gigabyte_print_is_cut_at_the_output_limit() -> None:
    limits = SandboxLimits(wall_s=30, output_bytes=10_000)
    result = run("import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 2**20)", limits)
    assert result.status == "output_limit"
    assert len(result.stdout) == 10_000


def test_a_huge_file_stops_at_the_file_size_limit() -> None:
    result = run(
        "open('/tmp/big', 'wb').write(b'x' * 2**25)", SandboxLimits(file_bytes=2**20, tmp_bytes=2**26)
    )
    assert result.status == "error" and "File too large" in result.stderr, result.stderr


def test_tmp_is_capped_by_its_size() -> None:
    result = run(
        "for i in range(100):\n    open(f'/tmp/f{i}', 'wb').write(b'x' * 2**20)",
        SandboxLimits(file_bytes=2**21, tmp_bytes=4 * 2**20),
    )
    assert result.status == "error" and "No space left on device" in result.stderr, result.stderr


def test_oversized_code_is_refused_with_the_limit() -> None:
    from aiprime.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at most 65536"):
        run_python("#" * 70_000)


@pytest.mark.skipif(os.getuid() != 0, reason="runs the launcher as another user: needs root (as CI runs)")
def test_a_launcher_that_is_not_root_gets_the_same_sandbox(tmp_path: Path) -> None:
    """CI runs as root, people do not: the non-root path (no uid drop, the process limit above the user's
    own processes) must contain a fork bomb and give the same uid and environment."""
    probe = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / "src")!r})
        from aiprime.agents.sandbox import SandboxLimits, run_python
        limits = SandboxLimits(wall_s=5, cpu_s=2)
        print(run_python("import os; print(os.getuid(), sorted(os.environ))", limits).stdout.strip())
        print(run_python("import os\\nwhile True: os.fork()", limits).status)
    """)
    done = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-c", probe],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    identity, bomb = done.stdout.strip().splitlines()
    assert identity == "65534 ['HOME', 'LANG', 'PATH', 'PWD']"
    assert bomb in ("error", "killed")
