"""The on-disk form of a backup: its parts, the manifest that hashes them, packing, checking and listing."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from aiprime.db.urls import DATABASES
from aiprime.errors import DataCorrupt, InvalidInput, NotFound

FORMAT_VERSION = 1  # bump when the layout changes; restore refuses other versions
PREFIX = "aiprime-backup-"
ARCHIVE_SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
GZIP_LEVEL = 6  # tarfile's default of 9 takes about 3x the time for a few percent
_USE_ANOTHER = "restore another backup (`aiprime backup list`)"
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, tarfile.TarError, EOFError, zlib.error)


@dataclass(frozen=True)
class Part:
    """One file of a backup, as the manifest records it."""

    kind: str  # "database" (a pg_dump custom-format file) or "folder" (a .tar.gz of one state folder)
    name: str  # the database's name, or the folder's key in `aiprime.backup.state_folders`
    path: str  # POSIX path relative to the backup's root
    bytes: int
    sha256: str
    details: dict = field(default_factory=dict)  # database: versions, Alembic revisions; folder: files, bytes


@dataclass(frozen=True)
class BackupInfo:
    """One line of `aiprime backup list`."""

    path: Path
    created_at: str
    bytes: int  # on disk
    parts: tuple[str, ...]
    problem: str | None = None  # why the manifest could not be read; None for a readable backup


def part(kind: str, name: str, root: Path, file: Path, details: dict) -> Part:
    """The manifest entry for `file`, a part written under the backup's `root`."""
    return Part(kind, name, file.relative_to(root).as_posix(), file.stat().st_size, sha256(file), details)


def sha256(file: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(root: Path, header: dict, parts: list[Part]) -> None:
    """Write manifest.json: `header` (versions, source) plus the format version and every part."""
    manifest = {"format": FORMAT_VERSION, **header, "parts": [asdict(p) for p in parts]}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def pack_folder(source: Path, root: Path, name: str) -> Part:
    """Pack `source` (absent: empty) into files/<name>.tar.gz; the part counts its files and bytes."""
    target = root / "files" / f"{name}.tar.gz"
    target.parent.mkdir(exist_ok=True)
    with tarfile.open(target, "w:gz", compresslevel=GZIP_LEVEL) as tar:
        if source.is_dir():
            tar.add(source, arcname=".")
    files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else []
    details = {"source": str(source), "files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    return part("folder", name, root, target, details)


def pack_archive(root: Path, target: Path) -> None:
    """Pack a backup folder into one .tar.gz, manifest first so that `describe` reads it without unpacking."""
    with tarfile.open(target, "w:gz", compresslevel=1) as tar:  # the parts are compressed already
        tar.add(root / MANIFEST, arcname=MANIFEST)
        for path in sorted(root.iterdir()):
            if path.name != MANIFEST:
                tar.add(path, arcname=path.name)


def unpack(archive: Path, dest: Path) -> None:
    """Unpack a .tar.gz into `dest`; DataCorrupt if it is truncated or not a .tar.gz."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths, `..` and links out of `dest`
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataCorrupt(
            f"{archive} is truncated or not a .tar.gz ({type(e).__name__}: {e}). Nothing was "
            f"changed; {_USE_ANOTHER}."
        ) from e


@contextmanager
def opened(path: Path, scratch: Path) -> Iterator[tuple[Path, list[Part]]]:
    """The backup's root folder and its parts; an archive is unpacked into a temporary folder under `scratch`.

    Args:
        path: A backup folder or archive.
        scratch: Where to unpack an archive (on the disk that will hold the restored state).

    Yields:
        The folder that holds manifest.json, and the parts it lists (not yet checked: see `verify`).
    """
    if path.is_dir():
        yield path, read_manifest(path, path)
        return
    if not path.is_file():
        raise NotFound(f"No backup at {path}. `aiprime backup list` shows the backups and their paths.")
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".restore-") as tmp:
        unpack(path, Path(tmp))
        yield Path(tmp), read_manifest(Path(tmp), path)


def read_manifest(root: Path, shown: Path) -> list[Part]:
    """The parts a manifest lists; DataCorrupt if absent or unreadable, InvalidInput if of another format."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        fmt, parts = manifest.get("format"), [Part(**p) for p in manifest["parts"]]
    except FileNotFoundError as e:
        raise DataCorrupt(
            f"{shown} has no {MANIFEST}, so it is not a complete AI Prime backup; {_USE_ANOTHER}."
        ) from e
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DataCorrupt(
            f"The {MANIFEST} of {shown} is damaged ({type(e).__name__}: {e}); {_USE_ANOTHER}."
        ) from e
    if fmt != FORMAT_VERSION:
        raise InvalidInput(
            f"{shown} has backup format {fmt!r}; this AI Prime reads format {FORMAT_VERSION}. "
            "Restore it with the AI Prime version that wrote it."
        )
    return parts


def verify(shown: Path, root: Path, parts: list[Part], folders: Iterable[str]) -> None:
    """Check every part's name, size and sha256 against the manifest; DataCorrupt names the first bad one.

    Args:
        shown: The backup's path, for messages.
        root: The folder that holds the parts.
        parts: What the manifest lists.
        folders: The folder part names that restore knows how to place.
    """
    for p in parts:
        file = _part_file(shown, root, p, tuple(folders))
        size = file.stat().st_size if file.is_file() else None
        if size == p.bytes and sha256(file) == p.sha256:
            continue
        what = (
            "is missing"
            if size is None
            else f"has {size} bytes"
            if size != p.bytes
            else "has the right size but another sha256"
        )
        raise DataCorrupt(
            f"Backup {shown} is damaged: {p.path} {what} (the manifest says {p.bytes} bytes, "
            f"sha256 {p.sha256[:16]}...). Nothing was changed; {_USE_ANOTHER}."
        )


def _part_file(shown: Path, root: Path, p: Part, folders: tuple[str, ...]) -> Path:
    """The part's file, refusing names that reach outside the backup or that restore cannot place."""
    relative = PurePosixPath(p.path)
    known = {"database": DATABASES, "folder": folders}.get(p.kind, ())
    if relative.is_absolute() or ".." in relative.parts or p.name not in known:
        raise DataCorrupt(
            f"The {MANIFEST} of {shown} lists an unexpected part ({p.kind} {p.name!r} at "
            f"{p.path!r}); {_USE_ANOTHER}."
        )
    return root / relative


def list_backups(folder: Path) -> list[BackupInfo]:
    """The backups in `folder`, oldest first; an unreadable one is listed with its problem."""
    if not folder.is_dir():
        return []
    return [describe(path) for path in sorted(folder.iterdir()) if path.name.startswith(PREFIX)]


def describe(path: Path) -> BackupInfo:
    """What the manifest of one backup (folder or archive) says, without unpacking it or checking hashes."""
    try:
        manifest = json.loads(_manifest_bytes(path))
        names, created = tuple(p["name"] for p in manifest["parts"]), manifest["created_at"]
    except _UNREADABLE as e:
        return BackupInfo(path, "?", _size(path), (), f"unreadable manifest ({type(e).__name__}: {e})")
    return BackupInfo(path, created, _size(path), names)


def _manifest_bytes(path: Path) -> bytes:
    if path.is_dir():
        return (path / MANIFEST).read_bytes()
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:  # the manifest comes first, so this stops before the parts
            if member.name == MANIFEST and (f := tar.extractfile(member)) is not None:
                return f.read()
    raise KeyError(MANIFEST)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
