"""Logical backups of the platform's state: every per-tool database, the MLflow artifacts and the DVC remote.

A backup is one folder `aiprime-backup-<UTC time>/`, or the same folder packed as one `.tar.gz`:

    manifest.json             each part's size and sha256; PostgreSQL, pgvector and Alembic versions
    db/<database>.dump        pg_dump custom format of aiprime, mlflow, dagster, feast (those that exist)
    files/<folder>.tar.gz     the MLflow artifacts folder and the DVC remote folder

Consistency without downtime: the databases are dumped first (each dump reads one snapshot), the folders are
packed after. MLflow and DVC write a file before any row names it, so every file that a dumped row names is
in the backup; files written in between are harmless extras.

A backup holds every secret of the databases (the gateway's password hashes included), so it is private to
its owner: it is written under umask 077, its folders are 0700 and its files 0600, and so is the default
backups folder.

Restore checks every size and hash before it touches anything, then stages every part beside the live one
(each database restored into `<name>__restoring`, each folder unpacked into a hidden sibling) and swaps them
in only when all are staged, so a damaged backup or a failing pg_restore leaves the current state as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from aiprime.backup import postgres
from aiprime.backup.parts import (
    ARCHIVE_SUFFIX,
    PREFIX,
    BackupInfo,
    Part,
    describe,
    list_backups,
    opened,
    pack_archive,
    pack_folder,
    unpack,
    verify,
    write_manifest,
)
from aiprime.data.atomic import atomic_path
from aiprime.db.engine import head_revisions
from aiprime.db.urls import DATABASES
from aiprime.errors import AIPrimeError, InvalidInput, NotFound
from aiprime.services import processes, stack
from aiprime.settings import Settings

__all__ = ["BackupInfo", "create", "default_dir", "describe", "list_backups", "restore", "state_folders"]


def state_folders(settings: Settings) -> dict[str, Path]:
    """The folders a backup carries, keyed by their part's name in the manifest."""
    return {"mlflow-artifacts": settings.mlflow_artifacts_dir, "dvc-remote": settings.dvc_remote_dir}


def default_dir(settings: Settings) -> Path:
    """Where `aiprime backup create` writes and `aiprime backup list` looks unless told otherwise."""
    return settings.home / "backups"


def create(settings: Settings, out: Path | None = None, archive: bool = False) -> Path:
    """Back up every per-tool database and the state folders into a new timestamped backup.

    Args:
        settings: Which server (embedded, or AIPRIME_DATABASE_URL) and which state folders.
        out: The folder to write the backup into; default `default_dir(settings)`.
        archive: Write one `.tar.gz` file instead of a folder.

    Returns:
        The new backup's path. A failed backup leaves nothing under that name.
    """
    server = _server_to_back_up(settings)
    folder = (out or default_dir(settings)).resolve()
    with owner_only():
        folder.mkdir(parents=True, exist_ok=True)
        if out is None:
            folder.chmod(0o700)  # ours: an older version left it 0755
        target = folder / _fresh_name(folder, archive)
        with atomic_path(target) as staged:
            if archive:
                _write_archive(settings, server, staged)
            else:
                _write_backup(settings, server, staged)
        make_private(target)
    return target


@contextmanager
def owner_only() -> Iterator[None]:
    """Create files 0600 and folders 0700 (umask 077) in this block, pg_dump's included."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def make_private(path: Path) -> None:
    """chmod `path` and everything under it to 0700 (folders) and 0600 (files)."""
    path.chmod(0o700 if path.is_dir() else 0o600)
    for inner in path.rglob("*") if path.is_dir() else ():
        if not inner.is_symlink():
            inner.chmod(0o700 if inner.is_dir() else 0o600)


def _server_to_back_up(settings: Settings) -> str:
    """The server's URL, refusing (rather than creating) an embedded server that holds no data yet."""
    if not settings.database_url and not (settings.pg_dir / "PG_VERSION").exists():
        raise NotFound(
            f"There is no AI Prime state in {settings.home} to back up. Run `aiprime services up` "
            "first, or point AIPRIME_HOME (or AIPRIME_DATABASE_URL) at the state to back up."
        )
    return stack.server_url(settings)


def _fresh_name(folder: Path, archive: bool) -> str:
    stamp, suffix = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), ARCHIVE_SUFFIX if archive else ""
    name, n = f"{PREFIX}{stamp}{suffix}", 2
    while (folder / name).exists():  # two backups within one second
        name, n = f"{PREFIX}{stamp}-{n}{suffix}", n + 1
    return name


def _write_backup(settings: Settings, server: str, root: Path) -> None:
    """Dump the databases, then pack the folders (the order that makes it consistent), then the manifest."""
    root.mkdir(parents=True)
    databases = [postgres.dump_database(server, name, root) for name in postgres.existing_databases(server)]
    if not databases:
        raise NotFound(
            f"None of the databases {', '.join(DATABASES)} exists on {postgres.shown(server)}. "
            "Run `aiprime services up` to create them, or check AIPRIME_DATABASE_URL."
        )
    folders = [pack_folder(path, root, name) for name, path in state_folders(settings).items()]
    write_manifest(root, _header(server, databases), databases + folders)


def _write_archive(settings: Settings, server: str, target: Path) -> None:
    """Write the backup folder beside `target`, then pack it into the one .tar.gz file `target`."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f"{target.name}.build-") as build:
        _write_backup(settings, server, Path(build) / "backup")
        pack_archive(Path(build) / "backup", target)


def _header(server: str, databases: list[Part]) -> dict:
    app = next((p.details for p in databases if p.name == "aiprime"), {})
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "aiprime_version": metadata.version("aiprime"),
        "source": postgres.shown(server),
        "postgresql": app.get("postgresql"),
        "pgvector": app.get("extensions", {}).get("vector"),
        "alembic_heads": sorted(head_revisions()),  # of the code that wrote it; each part has its database's
    }


def restore(settings: Settings, path: Path, yes: bool = False) -> list[stack.ServiceStatus]:
    """Replace the platform's state with a backup, then (re)start the services.

    Args:
        settings: Which server and state folders to replace.
        path: A backup folder or `.tar.gz` written by `create`.
        yes: Replace existing state; without it, existing databases or non-empty folders are refused.

    Returns:
        The services' status after the restart.

    Raises:
        DataCorrupt: A part is missing, truncated or altered; nothing was touched.
        InvalidInput: State would be replaced without `yes`, or the backup has an unknown format or schema.
    """
    path = path.resolve()
    with opened(path, scratch=settings.home) as (root, parts):
        verify(path, root, parts, state_folders(settings))
        postgres.check_schema_is_known(path, parts)
        if not yes and (existing := _existing_state(settings)):
            raise InvalidInput(
                f"Restoring {path} would replace {'; '.join(existing)}. Run again with --yes to "
                "replace it, or point AIPRIME_HOME at an empty folder."
            )
        _swap_in_with_mlflow_stopped(settings, root, parts)
    return stack.up(settings)


def _existing_state(settings: Settings) -> list[str]:
    """What a restore would replace: non-empty state folders, and the databases (or the embedded server)."""
    found = [f"the folder {p}" for p in state_folders(settings).values() if p.is_dir() and any(p.iterdir())]
    if settings.database_url:
        found += [f"database {name!r}" for name in postgres.existing_databases(stack.server_url(settings))]
    elif (settings.pg_dir / "PG_VERSION").exists():
        found.append(f"the embedded PostgreSQL in {settings.pg_dir}")
    return found


def _swap_in_with_mlflow_stopped(settings: Settings, root: Path, parts: list[Part]) -> None:
    """Stop the local MLflow server, swap the backup in, and restart MLflow at once if that failed."""
    local_mlflow = not settings.mlflow_tracking_uri
    was_running = local_mlflow and processes.stop_process(settings.run_dir / "mlflow.pid")
    try:
        _swap_in(settings, root, parts)
    except BaseException:
        if was_running:
            _restart_quietly(settings)
        raise


def _swap_in(settings: Settings, root: Path, parts: list[Part]) -> None:
    """Stage every folder and database, then swap in the databases, then the folders (as the block ends)."""
    server = stack.server_url(settings)
    folders = state_folders(settings)
    with ExitStack() as swaps:
        for p in (p for p in parts if p.kind == "folder"):
            staged = swaps.enter_context(atomic_path(folders[p.name]))  # renamed onto the live one on success
            unpack(root / p.path, staged)
        postgres.restore_databases(server, root, [p for p in parts if p.kind == "database"])


def _restart_quietly(settings: Settings) -> None:
    """Restart the services after a failed restore; the restore's own error is the one to report."""
    try:
        stack.up(settings)
    except AIPrimeError:
        pass
