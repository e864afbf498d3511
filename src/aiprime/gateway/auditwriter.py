"""Writes the gateway's per-request audit entries in batches, from one background thread.

A request's entry is queued when its answer is sent and written within about a batch interval, in order, to
the hash chain (`aiprime.security.audit.append`). The request path never waits on PostgreSQL; instead the
gateway refuses new requests (503) while more than `max_backlog` entries are unwritten, so an outage of the
database cannot let requests through unaudited for long. Administrative changes do not come through here:
they are logged in their own transaction (`aiprime.security.admin`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from sqlalchemy.engine import Engine

from aiprime.gateway.telemetry import LOGGER, GatewayMetrics
from aiprime.security.audit import AuditEntry, append

_log = logging.getLogger(f"{LOGGER}.audit")
_STOP = object()


class AuditWriter:
    """A queue of audit entries and the thread that appends them to the log."""

    def __init__(
        self,
        engine: Engine,
        metrics: GatewayMetrics,
        max_backlog: int,
        batch_size: int = 500,
        retry_s: float = 1.0,
    ) -> None:
        """Args: max_backlog is the count of unwritten entries past which `accepting` turns False."""
        self.engine, self.metrics, self.max_backlog = engine, metrics, max_backlog
        self.batch_size, self.retry_s = batch_size, retry_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="aiprime-audit-writer", daemon=True)
        metrics.audit_backlog.set_function(lambda: self.backlog)

    @property
    def backlog(self) -> int:
        """Entries submitted and not yet committed."""
        return self._pending

    @property
    def accepting(self) -> bool:
        """Whether the backlog leaves room for more requests (and the writer runs)."""
        return self._pending < self.max_backlog and self._thread.is_alive()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, entry: AuditEntry) -> None:
        """Queue one entry (thread-safe, never blocks)."""
        with self._lock:
            self._pending += 1
        self._queue.put(entry)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every entry submitted before this call is committed; return whether that happened."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the thread (waits at most `timeout_s`)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            entries, markers, stopping = self._next_batch()
            self._write(entries, give_up=stopping)
            for marker in markers:
                marker.set()

    def _next_batch(self) -> tuple[list[AuditEntry], list[threading.Event], bool]:
        entries, markers, item = [], [], self._queue.get()
        while True:
            if item is _STOP:
                return entries, markers, True
            (markers if isinstance(item, threading.Event) else entries).append(item)
            if len(entries) >= self.batch_size:
                return entries, markers, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return entries, markers, False

    def _write(self, entries: list[AuditEntry], give_up: bool) -> None:
        attempts = 0
        while entries:
            try:
                with self.engine.begin() as conn:
                    append(conn, entries)
                break
            except Exception:  # noqa: BLE001 - any database failure: keep the batch and retry
                attempts += 1
                self.metrics.audit_write_failures.inc()
                _log.exception("audit batch of %d entries not written (attempt %d)", len(entries), attempts)
                if give_up and attempts >= 3:
                    _log.error("stopping with %d audit entries unwritten", len(entries))
                    break
                time.sleep(self.retry_s)
        with self._lock:
            self._pending -= len(entries)
