"""Writes the gateway's per-request audit entries in batches, from one background thread.

A request's entry is made storable (`storable`: PostgreSQL keeps no NUL and no lone surrogate), spooled to
disk and fsynced (`aiprime.gateway.auditspool`) before the request's answer is sent, then written within
about a batch interval, in order, to the hash chain (`aiprime.security.audit.append`). Entries spooled and
not yet in PostgreSQL when the gateway stopped or crashed are written when it starts again.

A batch that PostgreSQL refuses for its data is written row by row, and a row it still refuses is
quarantined: kept in `<spool>/quarantine.jsonl` and replaced in the chain by an ASCII stand-in that names
it, so one bad entry never holds up the others. A lost connection keeps the batch and retries it.

The request path never waits on PostgreSQL; instead the gateway refuses new requests (503) while more than
`max_backlog` entries are unwritten. Anonymous entries (no authenticated principal) have their own share,
`anonymous_share`: past it only requests without a credential are refused, and anonymous entries beyond it
do not count against authenticated requests, so anonymous traffic cannot make the gateway refuse them.
Administrative changes do not come through here: they are logged in their own transaction
(`aiprime.security.admin`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aiprime.gateway.auditspool import AuditSpool
from aiprime.gateway.telemetry import LOGGER, GatewayMetrics
from aiprime.security.audit import AuditEntry, append

_log = logging.getLogger(f"{LOGGER}.audit")
_STOP = object()
ANONYMOUS = "anonymous"
Spooled = tuple[int, AuditEntry]  # (spool number, entry)


class AuditWriter:
    """A queue of audit entries and the thread that appends them to the log."""

    def __init__(
        self,
        engine: Engine,
        metrics: GatewayMetrics,
        max_backlog: int,
        spool: AuditSpool | None = None,
        anonymous_share: int | None = None,
        batch_size: int = 500,
        retry_s: float = 1.0,
    ) -> None:
        """Args: max_backlog is the count of unwritten entries past which `accepting` turns False;
        spool keeps entries durable (None: memory only); anonymous_share defaults to a quarter of it."""
        self.engine, self.metrics, self.max_backlog, self.spool = engine, metrics, max_backlog, spool
        self.anonymous_share = anonymous_share or max(1, max_backlog // 4)
        self.batch_size, self.retry_s = batch_size, retry_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = self._anonymous = self._numbered = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aiprime-audit-writer", daemon=True)
        metrics.audit_backlog.set_function(lambda: self.backlog)

    @property
    def backlog(self) -> int:
        """Entries submitted and not yet committed."""
        return self._pending

    @property
    def accepting(self) -> bool:
        """Whether the backlog leaves room for authenticated requests (and the writer runs)."""
        counted = self._pending - max(0, self._anonymous - self.anonymous_share)
        return counted < self.max_backlog and self._thread.is_alive()

    @property
    def accepting_anonymous(self) -> bool:
        """Whether anonymous entries are under their share (and authenticated ones have room)."""
        return self._anonymous < self.anonymous_share and self.accepting

    def start(self) -> None:
        """Queue what the spool holds that PostgreSQL does not, then start the writer thread."""
        if self.spool is not None:
            pending = self.spool.pending()
            missing = _not_stored(self.engine, pending)
            self.spool.committed({n for n, _ in pending} - {n for n, _ in missing})
            for n, entry in missing:
                self._enqueue(n, entry)
        self._thread.start()

    def submit(self, entry: AuditEntry) -> None:
        """Make `entry` storable, spool it durably, and queue it (thread-safe; blocks for the fsync)."""
        entry = storable(entry)
        if self.spool is not None:
            self._enqueue(self.spool.append(entry), entry)
        else:
            with self._lock:
                self._numbered += 1
                n = self._numbered
            self._enqueue(n, entry)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every entry submitted before this call is committed; return whether that happened."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (what is left stays in the spool), then end the thread and close the spool."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._stopping.set()
            self._thread.join(timeout_s)
        if self.spool is not None and not self._thread.is_alive():
            self.spool.close()

    def _enqueue(self, n: int, entry: AuditEntry) -> None:
        with self._lock:
            self._pending += 1
            self._anonymous += entry.actor == ANONYMOUS
        self._queue.put((n, entry))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, markers, stopping = self._next_batch()
            self._write(batch, give_up=stopping)
            for marker in markers:
                marker.set()

    def _next_batch(self) -> tuple[list[Spooled], list[threading.Event], bool]:
        batch, markers, item = [], [], self._queue.get()
        while True:
            if item is _STOP:
                return batch, markers, True
            (markers if isinstance(item, threading.Event) else batch).append(item)
            if len(batch) >= self.batch_size:
                return batch, markers, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, markers, False

    def _write(self, batch: list[Spooled], give_up: bool) -> None:
        """Write `batch`, retrying while PostgreSQL is unreachable (at most 3 times when stopping)."""
        attempts = 0
        while batch:
            try:
                self._write_batch(batch)
            except Exception:  # noqa: BLE001 - any database failure: keep what is left and retry
                attempts += 1
                self.metrics.audit_write_failures.inc()
                _log.exception("audit batch of %d entries not written (attempt %d)", len(batch), attempts)
                if (give_up or self._stopping.is_set()) and attempts >= 3:
                    _log.error("stopping with %d audit entries unwritten; they stay in the spool", len(batch))
                    return
                self._stopping.wait(self.retry_s)

    def _write_batch(self, batch: list[Spooled]) -> None:
        """Commit `batch` (emptying it) in one transaction, or row by row if PostgreSQL refuses its data."""
        try:
            self._commit(batch)
        except Exception as e:
            if not _is_poison(e):
                raise
            self.metrics.audit_write_failures.inc()
            _log.warning("PostgreSQL refused an audit batch of %d (%s); writing it row by row", len(batch), e)
        else:
            batch.clear()
            return
        while batch:
            try:
                self._commit(batch[:1])
            except Exception as e:
                if not _is_poison(e):
                    raise
                self._quarantine(batch[0], e)
            del batch[0]

    def _commit(self, items: list[Spooled]) -> None:
        with self.engine.begin() as conn:
            append(conn, [entry for _, entry in items])
        self._done(items)

    def _done(self, items: list[Spooled]) -> None:
        with self._lock:
            self._pending -= len(items)
            self._anonymous -= sum(entry.actor == ANONYMOUS for _, entry in items)
        if self.spool is not None:
            self.spool.committed(n for n, _ in items)

    def _quarantine(self, item: Spooled, error: Exception) -> None:
        """Keep the refused entry in the quarantine file and put an ASCII stand-in naming it in the chain."""
        n, entry = item
        _log.error("audit entry %d quarantined: PostgreSQL refused it (%s)", n, type(error).__name__)
        if self.spool is not None:
            record = {"n": n, "error": str(error)[:500], "entry": ascii(dataclasses.asdict(entry))}
            with open(self.spool.folder / "quarantine.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        stand_in = dataclasses.replace(
            entry,
            actor=_ascii(entry.actor),
            action=_ascii(entry.action),
            resource=_ascii(entry.resource),
            decision=_ascii(entry.decision),
            status=entry.status if isinstance(entry.status, int) and abs(entry.status) < 2**31 else None,
            request_id=entry.request_id and _ascii(entry.request_id),
            trace_id=entry.trace_id and _ascii(entry.trace_id),
            detail={"quarantined": type(error).__name__, "spool_entry": n},
        )
        try:
            self._commit([(n, stand_in)])
        except Exception as e:
            if not _is_poison(e):
                raise
            self._done([item])  # the quarantine file is its only record


def storable(entry: AuditEntry) -> AuditEntry:
    """`entry` with what PostgreSQL cannot store in text or JSONB escaped: NUL as `\\x00`, lone surrogates
    as `\\udcXX` (the same object when there is none)."""
    fields = {
        name: _text(value)
        for name in ("actor", "action", "resource", "decision", "request_id", "trace_id")
        if isinstance(value := getattr(entry, name), str) and not _clean(value)
    }
    detail = _json(entry.detail)
    if detail != entry.detail:
        fields["detail"] = detail
    return dataclasses.replace(entry, **fields) if fields else entry


def _clean(text: str) -> bool:
    return "\x00" not in text and (text.isascii() or not any("\ud800" <= c <= "\udfff" for c in text))


def _text(text: str) -> str:
    if _clean(text):
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _ascii(text: str) -> str:
    return ascii(text)[1:-1]


def _is_poison(e: Exception) -> bool:
    """Whether PostgreSQL refused the data itself (retrying cannot help), not the connection or the server."""
    if isinstance(e, sa.exc.DataError | TypeError | ValueError):
        return True
    return isinstance(e, sa.exc.StatementError) and not isinstance(e, sa.exc.DBAPIError)


def _not_stored(engine: Engine, spooled: list[Spooled]) -> list[Spooled]:
    """The spooled entries PostgreSQL does not hold (a crash can come between its commit and the spool's)."""
    if not spooled:
        return []
    since = min(entry.at for _, entry in spooled)
    with engine.connect() as conn:
        stored = set(
            conn.execute(
                sa.text("SELECT request_id, action, at FROM gateway.audit_log WHERE at >= :since"),
                {"since": since},
            ).tuples()
        )
    kept = [(n, e) for n, e in spooled if (e.request_id, e.action, e.at) not in stored]
    _log.info("replaying %d spooled audit entries (%d already stored)", len(kept), len(spooled) - len(kept))
    return kept
