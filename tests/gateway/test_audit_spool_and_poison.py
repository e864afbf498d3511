"""The audit writer on a real PostgreSQL: a poisoned entry is quarantined without holding up the others, and
entries spooled but not written (a stop while PostgreSQL is down, a crash) are written at the next start,
once each."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from aiprime.db.engine import connect
from aiprime.errors import ConfigError
from aiprime.gateway.auditspool import AuditSpool
from aiprime.gateway.auditwriter import AuditWriter, storable
from aiprime.gateway.telemetry import GatewayMetrics
from aiprime.security import audit
from aiprime.security.audit import AuditEntry

DOWN = "postgresql+psycopg://nobody@127.0.0.1:9/none"


@pytest.fixture
def engine(app_db_url: str) -> sa.Engine:
    return connect(app_db_url)


def _writer(engine: sa.Engine, spool: AuditSpool | None, **kwargs) -> AuditWriter:
    return AuditWriter(engine, GatewayMetrics(CollectorRegistry()), 1000, spool, retry_s=0.05, **kwargs)


def _entry(tag: str, status: int = 200, **fields) -> AuditEntry:
    request_id = f"{tag}-{uuid.uuid4().hex[:8]}"
    return AuditEntry("tests", "POST /v1/predict", "predict", "allow", status, request_id, **fields)


def _stored(engine: sa.Engine, entries: list[AuditEntry]) -> list[list[AuditEntry]]:
    with engine.connect() as conn:
        return [[r.entry for r in audit.read(conn, request_id=e.request_id)] for e in entries]


def test_what_postgresql_cannot_store_is_escaped_before_it_is_queued() -> None:
    entry = _entry("nul", detail={"path": "/x\x00y", "bad\x00key": ["\udc80"]})
    fixed = storable(entry)
    assert fixed.detail == {"path": "/x\\x00y", "bad\\x00key": ["\\udc80"]}
    clean = _entry("clean")
    assert storable(clean) is clean


def test_a_poisoned_entry_is_quarantined_and_the_others_are_written_in_order(engine, tmp_path) -> None:
    spool = AuditSpool(tmp_path / "spool")
    writer = _writer(engine, spool)
    writer.start()
    good = [_entry("before"), _entry("after")]
    poison = _entry("poison", status=2**40)  # PostgreSQL refuses it: integer out of range
    for entry in (good[0], poison, good[1]):
        writer.submit(entry)
    assert writer.flush(10)
    writer.stop()
    with engine.connect() as conn:
        [[before], [stand_in], [after]] = [
            audit.read(conn, request_id=e.request_id) for e in (good[0], poison, good[1])
        ]
    assert (before.entry, after.entry) == (good[0], good[1])
    assert before.seq < stand_in.seq < after.seq
    assert stand_in.entry.detail["quarantined"] == "DataError"
    assert stand_in.entry.status is None  # the status was what PostgreSQL refused
    quarantined = [json.loads(line) for line in (spool.folder / "quarantine.jsonl").read_text().splitlines()]
    assert [q["n"] for q in quarantined] == [stand_in.entry.detail["spool_entry"]]


def test_entries_left_by_a_stop_while_postgresql_is_down_are_written_at_the_next_start(
    engine, tmp_path
) -> None:
    writer = _writer(sa.create_engine(DOWN), AuditSpool(tmp_path / "spool"))
    writer.start()
    entries = [_entry("outage") for _ in range(3)]
    for entry in entries:
        writer.submit(entry)
    writer.stop(timeout_s=10)  # gives up after 3 attempts: the entries stay in the spool
    assert _stored(engine, entries) == [[], [], []]
    again = _writer(engine, AuditSpool(tmp_path / "spool"))
    again.start()
    assert again.flush(10)
    again.stop()
    assert _stored(engine, entries) == [[e] for e in entries]
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # written segments are removed


def test_a_crash_after_postgresql_committed_does_not_write_an_entry_twice(engine, tmp_path) -> None:
    spool = AuditSpool(tmp_path / "spool")
    entries = [_entry("crash") for _ in range(2)]
    numbers = [spool.append(e) for e in entries]
    with engine.begin() as conn:  # the first reached PostgreSQL, the crash came before `committed`
        audit.append(conn, entries[:1])
    spool.close()
    writer = _writer(engine, AuditSpool(tmp_path / "spool"))
    writer.start()
    assert writer.flush(10)
    writer.stop()
    assert numbers == [1, 2]
    assert [len(found) for found in _stored(engine, entries)] == [1, 1]


def test_concurrent_appends_share_fsyncs_and_keep_every_entry(tmp_path) -> None:
    spool = AuditSpool(tmp_path / "spool")
    entries = [_entry(f"t{i}") for i in range(200)]
    threads = [threading.Thread(target=spool.append, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spool.close()
    reopened = AuditSpool(tmp_path / "spool")
    pending = reopened.pending()
    assert sorted(n for n, _ in pending) == list(range(1, 201))
    assert {e.request_id for _, e in pending} == {e.request_id for e in entries}


def test_a_torn_last_line_is_skipped_and_a_second_process_is_refused(tmp_path) -> None:
    spool = AuditSpool(tmp_path / "spool")
    spool.append(_entry("whole"))
    segment = next((tmp_path / "spool").glob("*.jsonl"))
    with pytest.raises(ConfigError, match="its own"):
        AuditSpool(tmp_path / "spool")
    spool.close()
    with open(segment, "ab") as handle:
        handle.write(b'{"n": 2, "entry": {"actor"')  # a crash in the middle of a write
    assert [n for n, _ in AuditSpool(tmp_path / "spool").pending()] == [1]


def test_an_entry_committed_before_an_older_one_does_not_hide_the_older_one(tmp_path) -> None:
    spool = AuditSpool(tmp_path / "spool")
    older, newer = spool.append(_entry("older")), spool.append(_entry("newer"))
    spool.committed([newer])  # two requests queued their entries in the other order
    spool.close()
    reopened = AuditSpool(tmp_path / "spool")
    assert [n for n, _ in reopened.pending()] == [older, newer]  # a crash now loses neither
    reopened.committed([older, newer])  # what the writer reports once older is written and newer found stored
    reopened.close()
    assert AuditSpool(tmp_path / "spool").pending() == []
