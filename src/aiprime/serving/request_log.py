"""Request logging for drift detection: a server hands over what it saw, a background thread writes it.

`RequestLog.submit` only puts the requests on a bounded queue, so the predict call never waits on
PostgreSQL. A daemon thread takes them off in batches (up to `batch_size`, or what arrived within
`flush_interval_s`) and appends them to `request_log` (`aiprime.drift.requests.log_requests`). When the
database is down or the queue is full the requests are dropped, counted in
`aiprime_request_log_failed_total{model, reason}`, and a warning is logged; serving goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aiprime.db.urls import database_url, parse_url
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.serving.metrics import RequestLogMetrics

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5  # a database that does not answer holds the writer thread this long, never a request


class RequestLog:
    """A batched, non-blocking writer of one server's requests to the `request_log` table."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        batch_size: int = 256,
        flush_interval_s: float = 1.0,
        max_queued: int = 10_000,
        metrics: RequestLogMetrics | None = None,
    ) -> None:
        """Create the writer (not started).

        Args:
            url: a URL of the PostgreSQL server (AIPRIME_DATABASE_URL); the log goes to its `aiprime` database.
            model: the server's name, stored with each request (`request_log.model`).
            batch_size: requests written per transaction at most.
            flush_interval_s: how long the writer waits for a batch to fill.
            max_queued: requests held before new ones are dropped (a database that stays down costs no memory).
            metrics: where to count; None registers a fresh set in the default registry (once per process).
        """
        self.url = database_url(url, "aiprime")
        self.model = model
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.metrics = metrics or RequestLogMetrics()
        self._queue: queue.Queue[LoggedRequest | None] = queue.Queue(maxsize=max_queued)
        self._thread = threading.Thread(target=self._run, name=f"request-log-{model}", daemon=True)
        self._engine: Engine | None = None
        self._stopping = False  # set by the writer thread when it takes close()'s sentinel

    def start(self) -> RequestLog:
        """Start the writer thread; returns self."""
        self._thread.start()
        return self

    def submit(self, requests: list[LoggedRequest]) -> None:
        """Queue requests for writing; never blocks, never raises (a full queue drops and counts them)."""
        for i, request in enumerate(requests):
            try:
                self._queue.put_nowait(request)
            except queue.Full:
                self._lost(len(requests) - i, "queue_full", "the writer is behind")
                return

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every request submitted so far is written (or counted as failed); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread.is_alive():
            self.flush(timeout_s)
            self._queue.put(None)
            self._thread.join(timeout_s)
        if self._engine is not None:
            self._engine.dispose()

    def _run(self) -> None:
        while not self._stopping:
            batch = self._next_batch()
            if batch:
                self._write(batch)
            for _ in batch:
                self._queue.task_done()

    def _next_batch(self) -> list[LoggedRequest]:
        """What arrives within `flush_interval_s` of the first request, up to `batch_size` (blocks until one)."""
        batch: list[LoggedRequest] = []
        deadline = None
        while len(batch) < self.batch_size:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is None:  # close(): write this batch, then stop
                self._queue.task_done()
                self._stopping = True
                break
            batch.append(item)
            deadline = deadline or time.monotonic() + self.flush_interval_s
        return batch

    def _write(self, batch: list[LoggedRequest]) -> None:
        try:
            log_requests(self._engine or self._connect(), batch)
        except Exception as e:  # noqa: BLE001 - whatever the database says, serving goes on
            self._lost(len(batch), "database", f"{type(e).__name__}: {str(e).strip().splitlines()[0]}")
        else:
            self.metrics.written.labels(self.model).inc(len(batch))

    def _connect(self) -> Engine:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
        self._engine = sa.create_engine(parse_url(self.url), pool_pre_ping=True, connect_args=connect_args)
        return self._engine

    def _lost(self, count: int, reason: str, detail: str) -> None:
        self.metrics.failed.labels(self.model, reason).inc(count)
        log.warning(
            "request log: dropped %d request(s) of %s (%s: %s). Check AIPRIME_DATABASE_URL and that "
            "the `aiprime` database is migrated (`aiprime services up`).",
            count,
            self.model,
            reason,
            detail,
        )


def request_log(url: str | None, model: str) -> RequestLog | None:
    """A started request log for `model` when a database URL is configured; None (logging off) otherwise."""
    return RequestLog(url, model).start() if url else None
