"""The audit writer's durable backlog: append-only segment files under AIPRIME_HOME, fsynced before a request
is answered and replayed when the gateway starts.

Each entry gets a number and one JSON line `{"n": 17, "entry": {...}}` in the current segment
(`<first number>.jsonl`); `append` returns only once the line is on disk. Concurrent appends share one
fsync (group commit: the first caller writes and syncs every line queued so far, the others wait for it).
The writer reports the numbers PostgreSQL committed (`committed`), in any order (concurrent requests queue
their entries in another order than they were numbered); the number below which all are committed is kept
in `committed`, and closed segments whose entries are all committed are deleted. A crash between PostgreSQL's commit and that file is
why `pending` may return entries already stored: the writer skips those (see `AuditWriter.start`).

One gateway process owns a spool folder (an exclusive `flock` on `lock`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import IO

from aiprime.errors import ConfigError
from aiprime.security.audit import AuditEntry

_log = logging.getLogger("aiprime.gateway.audit")
SEGMENT_BYTES = 4 << 20  # a segment this large is closed and a new one begun


def encode(n: int, entry: AuditEntry) -> bytes:
    """One spool line."""
    fields = asdict(entry) | {"at": entry.at.isoformat()}
    return json.dumps({"n": n, "entry": fields}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> tuple[int, AuditEntry]:
    """The number and entry of one spool line (ValueError or KeyError when it is not one)."""
    record = json.loads(line)
    fields = record["entry"]
    return record["n"], AuditEntry(**(fields | {"at": datetime.fromisoformat(fields["at"])}))


class AuditSpool:
    """Numbered, fsynced audit entries in `folder`; see the module docstring."""

    def __init__(self, folder: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        """Open (creating) the spool; ConfigError when another process holds it."""
        self.folder, self.segment_bytes = folder, segment_bytes
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_file = _exclusive_lock(folder / "lock")
        self._cond = threading.Condition()
        self._buffer: list[bytes] = []
        self._syncing = False
        self._committed = _read_int(folder / "committed")  # every entry up to it is in PostgreSQL
        self._done: set[int] = set()  # entries above it that are in PostgreSQL too
        self._segments = sorted(int(p.stem) for p in folder.glob("*.jsonl"))
        self._next = self._last_number() + 1
        self._synced = self._next - 1
        self._file: IO[bytes] | None = None
        self._open: int | None = None  # the first number of the segment being written

    def pending(self) -> list[tuple[int, AuditEntry]]:
        """Entries spooled and not known to be committed, oldest first (a torn last line is skipped)."""
        found = []
        for first in self._segments:
            for n, entry in self._lines(first):
                if n > self._committed:
                    found.append((n, entry))
        return found

    def append(self, entry: AuditEntry) -> int:
        """Spool `entry` durably and return its number; blocks until it is fsynced (thread-safe)."""
        with self._cond:
            n = self._next
            self._next += 1
            self._buffer.append(encode(n, entry))
            while self._synced < n:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._sync_buffer()
        return n

    def committed(self, numbers: Iterable[int]) -> None:
        """Record that the entries `numbers` are in PostgreSQL; delete segments holding only committed ones."""
        with self._cond:
            self._done.update(n for n in numbers if n > self._committed)
            while self._committed + 1 in self._done:
                self._committed += 1
                self._done.remove(self._committed)
            tmp = self.folder / "committed.tmp"
            tmp.write_text(str(self._committed))
            tmp.replace(self.folder / "committed")
            while self._segments and self._segments[0] != self._open and self._last_of(0) <= self._committed:
                (self.folder / f"{self._segments.pop(0):020d}.jsonl").unlink(missing_ok=True)

    def _last_of(self, index: int) -> int:
        """The number of the last entry in the segment at `index` of the closed ones."""
        return self._segments[index + 1] - 1 if index + 1 < len(self._segments) else self._next - 1

    def close(self) -> None:
        """Close the current segment and release the folder."""
        with self._cond:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._lock_file.close()

    def _sync_buffer(self) -> None:
        """Write and fsync every buffered line, outside the lock, as the group's leader (holds `_cond`)."""
        lines, self._buffer, last = self._buffer, [], self._next - 1
        first = last - len(lines) + 1
        self._syncing = True
        self._cond.release()
        try:
            handle = self._segment_for(first)
            handle.write(b"".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            self._cond.acquire()
            self._syncing = False
            self._cond.notify_all()
        self._synced = last

    def _segment_for(self, first: int) -> IO[bytes]:
        """The open segment, or a new one beginning at `first` when there is none or it is full."""
        if self._file is not None and self._file.tell() < self.segment_bytes:
            return self._file
        if self._file is not None:
            self._file.close()
        path = self.folder / f"{first:020d}.jsonl"
        self._file = open(path, "ab")  # noqa: SIM115 - kept open across appends, closed on roll or close
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable too
        finally:
            os.close(dir_fd)
        with self._cond:
            self._segments.append(first)
            self._open = first
        return self._file

    def _last_number(self) -> int:
        last = self._committed
        if self._segments:
            for n, _ in self._lines(self._segments[-1]):
                last = max(last, n)
            last = max(last, self._segments[-1] - 1)
        return last

    def _lines(self, first: int) -> list[tuple[int, AuditEntry]]:
        raw = (self.folder / f"{first:020d}.jsonl").read_bytes().split(b"\n")
        found = []
        for i, line in enumerate(raw):
            if not line:
                continue
            try:
                found.append(decode(line))
            except (ValueError, KeyError, TypeError):
                level = logging.INFO if i == len(raw) - 1 else logging.ERROR
                _log.log(
                    level, "skipping an unreadable audit spool line in segment %d (line %d)", first, i + 1
                )
        return found


def _exclusive_lock(path: Path) -> IO[bytes]:
    handle = open(path, "ab")  # noqa: SIM115 - held for the spool's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        handle.close()
        raise ConfigError(
            f"Another gateway process uses the audit spool {path.parent}; give each gateway its own "
            "AIPRIME_HOME (or AIPRIME_GATEWAY_AUDIT_SPOOL_DIR)."
        ) from e
    return handle


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0
