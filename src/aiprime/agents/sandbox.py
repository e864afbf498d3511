"""Run untrusted Python under bubblewrap: the agents' `python` tool.

Each run is a fresh `bwrap` with every namespace unshared (no network: its own loopback, down), all
capabilities dropped, the system (`/usr`) bound read-only and nothing else of the host visible (no `/etc`,
no home, no project), a private size-capped `/tmp`, a cleared environment, uid 65534, a new session (no
terminal injection), `--die-with-parent`, and a seccomp filter refusing sockets other than AF_UNIX, ptrace,
mounts, new namespaces, kernel keyrings, BPF and the like. Resource limits (CPU time, address space,
processes, file size, open files) are set by `prlimit` before `bwrap` starts, so they bind everything inside; a
wall-clock timeout kills the whole sandbox; stdout and stderr are read as they come and cut at a byte limit
(the sandbox is killed then, so a gigabyte print costs a few milliseconds, not a gigabyte).

Started as root, the launcher first drops to a fresh unused host uid/gid, so the sandbox's user namespace maps
to nobody on the host rather than to root, and RLIMIT_NPROC (counted per host uid) counts this sandbox only. The seccomp program is compiled once per process by the system
Python (Debian's `python3-seccomp` is built for it, not for the venv).
"""

from __future__ import annotations

import functools
import os
import secrets
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiprime.errors import DataSourceMissing, InvalidInput

BWRAP = "/usr/bin/bwrap"
PRLIMIT = "/usr/bin/prlimit"
SYSTEM_PYTHON = "/usr/bin/python3"
NOBODY = 65534
#: Host uids a root launcher runs sandboxes as (above the ranges of accounts and of subordinate ids).
UNUSED_UIDS = range(2_000_000_000, 2_100_000_000)  # below 2**31: bwrap reads uids as int
MAX_CODE_BYTES = 64 * 1024

#: The seccomp program, written by the system Python (python3-seccomp): allow by default, EPERM for what a
#: sandboxed script never needs and an escape would.
_SECCOMP_SCRIPT = r"""
import errno, os, socket, sys, seccomp
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
deny = seccomp.ERRNO(errno.EPERM)
for name in ("ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
             "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
             "userfaultfd", "kexec_load", "init_module", "finit_module", "delete_module", "reboot",
             "swapon", "swapoff", "acct", "personality", "open_by_handle_at", "name_to_handle_at",
             "fanotify_init", "io_uring_setup", "chroot", "syslog", "settimeofday", "clock_settime"):
    f.add_rule(deny, name)
f.add_rule(deny, "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
f.add_rule(deny, "socketpair", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
f.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, 0x5412))  # TIOCSTI
f.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000))  # CLONE_NEWUSER
f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # its flags live in memory: libc falls back to clone
f.export_bpf(sys.stdout.buffer)
"""


@dataclass(frozen=True)
class SandboxLimits:
    """What one execution may use; exceeding a limit stops it with a status naming the limit."""

    wall_s: float = 10.0  # wall-clock time, then the sandbox is killed (status `timeout`)
    cpu_s: int = 5  # CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL)
    memory_bytes: int = 512 * 2**20  # address space (RLIMIT_AS): a bigger allocation raises MemoryError
    processes: int = 32  # processes and threads of the sandbox's user (RLIMIT_NPROC)
    file_bytes: int = 16 * 2**20  # the largest file it may write (RLIMIT_FSIZE)
    tmp_bytes: int = 32 * 2**20  # the size of its private /tmp (a tmpfs)
    open_files: int = 64  # RLIMIT_NOFILE
    output_bytes: int = 64 * 1024  # stdout and stderr each; more is cut (status `output_limit`)


@dataclass(frozen=True)
class SandboxResult:
    """How an execution ended.

    `status` is `ok` (exit 0), `error` (another exit status), `timeout` (wall clock), `cpu_limit`,
    `output_limit` (stdout or stderr went past its limit and was cut) or `killed` (by a signal).
    """

    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float


def check_available() -> None:
    """Raise DataSourceMissing naming the Debian package if bubblewrap or the seccomp binding is absent."""
    if not Path(BWRAP).exists():
        raise DataSourceMissing(f"{BWRAP} is missing: install the Debian package `bubblewrap` (make setup).")
    if not Path(PRLIMIT).exists():
        raise DataSourceMissing(f"{PRLIMIT} is missing: install the Debian package `util-linux`.")
    if not Path(SYSTEM_PYTHON).exists():
        raise DataSourceMissing(f"{SYSTEM_PYTHON} is missing: install the Debian package `python3`.")
    seccomp_program()


@functools.cache
def seccomp_program() -> bytes:
    """The compiled seccomp BPF program (cached per process)."""
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", _SECCOMP_SCRIPT], check=False, capture_output=True, timeout=30
    )
    if done.returncode != 0:
        raise DataSourceMissing(
            "The seccomp filter could not be built ("
            + done.stderr.decode(errors="replace").strip()[-200:]
            + "): install the Debian package `python3-seccomp` (make setup)."
        )
    return done.stdout


def bwrap_command(limits: SandboxLimits, seccomp_fd: int) -> list[str]:
    """The bwrap command line that runs the system Python on the program read from stdin."""
    return [
        BWRAP, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--uid", str(NOBODY), "--gid", str(NOBODY),
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
        "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
        "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
        "--remount-ro", "/",
        "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/tmp",
        "--setenv", "LANG", "C.UTF-8", "--chdir", "/tmp",
        "--seccomp", str(seccomp_fd),
        SYSTEM_PYTHON, "-I", "-S", "-B", "-",
    ]  # fmt: skip


def prlimit_command(limits: SandboxLimits, host_uid: int | None) -> list[str]:
    """util-linux `prlimit` setting the resource limits for what it runs (a command, not a `preexec_fn`:
    the agents launch sandboxes from threads, where Python code between fork and exec may deadlock)."""
    processes = limits.processes if host_uid is not None else limits.processes + _processes_of(os.getuid())
    return [
        PRLIMIT,
        f"--cpu={limits.cpu_s}:{limits.cpu_s + 1}",  # SIGXCPU at the soft limit, SIGKILL a second later
        f"--as={limits.memory_bytes}",
        f"--nproc={processes}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _launch_uid() -> int | None:
    """The host uid a root launcher drops to: one no account uses, fresh per run, because RLIMIT_NPROC
    counts every process of a host uid (uid 65534 is shared with other daemons and other sandboxes)."""
    return UNUSED_UIDS.start + secrets.randbelow(len(UNUSED_UIDS)) if os.getuid() == 0 else None


def _processes_of(uid: int) -> int:
    """How many processes `uid` runs now (a non-root launcher's limit sits above them)."""
    count = 0
    for entry in os.scandir("/proc"):
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            continue
    return count


def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code` in a fresh sandbox and return how it ended (never raises for what the code does).

    Raises:
        InvalidInput: the code is larger than 64 KiB.
        DataSourceMissing: bubblewrap or python3-seccomp is not installed.
    """
    limits = limits or SandboxLimits()
    source = code.encode()
    if len(source) > MAX_CODE_BYTES:
        raise InvalidInput(f"code is {len(source)} bytes; send at most {MAX_CODE_BYTES} (split the work).")
    check_available()
    seccomp_fd = os.memfd_create("aiprime-seccomp")  # close-on-exec: only bwrap gets it (pass_fds)
    try:
        os.write(seccomp_fd, seccomp_program())
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        return _execute(source, limits, seccomp_fd)
    finally:
        os.close(seccomp_fd)


def _execute(source: bytes, limits: SandboxLimits, seccomp_fd: int) -> SandboxResult:
    start = time.monotonic()
    host_uid = _launch_uid()
    proc = subprocess.Popen(
        prlimit_command(limits, host_uid) + bwrap_command(limits, seccomp_fd),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(seccomp_fd,),
        env={},  # bwrap's own process (PID 1 inside) is readable in /proc: it must hold no secret either
        user=host_uid,
        group=host_uid,
        extra_groups=[] if host_uid is not None else None,
        start_new_session=True,
        close_fds=True,
    )
    try:
        proc.stdin.write(source)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    outputs, stopped = _collect(proc, limits, start)
    exit_code = proc.wait()
    status = stopped or _status(exit_code)
    out, err = (outputs[name].decode(errors="replace") for name in ("stdout", "stderr"))
    return SandboxResult(status, exit_code, out, err, time.monotonic() - start)


def _collect(
    proc: subprocess.Popen, limits: SandboxLimits, start: float
) -> tuple[dict[str, bytes], str | None]:
    """Read stdout and stderr until both close; kill the sandbox at the wall clock or the output limit."""
    outputs = {"stdout": bytearray(), "stderr": bytearray()}
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map():
            left = limits.wall_s - (time.monotonic() - start)
            if left <= 0:
                return _kill(proc, outputs, "timeout")
            for key, _ in selector.select(timeout=left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = outputs[key.data]
                buffer += chunk[: limits.output_bytes + 1 - len(buffer)]
                if len(buffer) > limits.output_bytes:
                    del buffer[limits.output_bytes :]
                    return _kill(proc, outputs, "output_limit")
    return {k: bytes(v) for k, v in outputs.items()}, None


def _kill(proc: subprocess.Popen, outputs: dict[str, bytearray], status: str) -> tuple[dict[str, bytes], str]:
    """SIGKILL bwrap's process group: --die-with-parent takes the sandbox's PID namespace with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.stdout.close()
    proc.stderr.close()
    return {k: bytes(v) for k, v in outputs.items()}, status


def _status(exit_code: int) -> str:
    """bwrap exits with the script's status, or 128 + the signal that ended it."""
    if exit_code == 0:
        return "ok"
    if exit_code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        return "cpu_limit"
    return "killed" if exit_code < 0 or exit_code > 128 else "error"
