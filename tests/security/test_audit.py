"""The audit log's hash chain: appends, verification, and tampering found and named."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from aiprime.cli import app as cli
from aiprime.db.engine import connect
from aiprime.security import audit
from aiprime.security.admin import Actor, Admin


def _entries(n: int, actor: str = "alice") -> list[audit.AuditEntry]:
    return [
        audit.AuditEntry(
            actor,
            "POST /v1/predict",
            "predict",
            "allow",
            200,
            f"req-{i}",
            "ab" * 16,
            {"client": "127.0.0.1", "duration_us": i},
        )
        for i in range(n)
    ]


def _log(url: str, n: int, entries: list[audit.AuditEntry] | None = None) -> sa.Engine:
    engine = connect(url)
    with engine.begin() as conn:
        audit.append(conn, entries or _entries(n))
    return engine


def _as_attacker(engine: sa.Engine, sql: str) -> None:
    """Run `sql` as a superuser who first switches off the append-only triggers for the session."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(sql))


def test_an_untouched_chain_verifies_and_reads_back(fresh_db: str) -> None:
    entries = _entries(5)
    engine = _log(fresh_db, 5, entries)
    report = audit.verify(engine)
    assert report.ok and report.rows == 5 and report.head_seq == 5
    with engine.connect() as conn:
        rows = audit.read(conn, after=2, limit=2)
    assert [r.seq for r in rows] == [3, 4]
    assert [r.entry for r in rows] == entries[2:4]  # every field, the time to the microsecond
    assert rows[1].prev_hash == rows[0].hash


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE gateway.audit_log SET decision = 'allow' WHERE seq = 1",
        "DELETE FROM gateway.audit_log WHERE seq = 1",
        "TRUNCATE gateway.audit_log",
    ],
)
def test_the_table_refuses_updates_and_deletes(fresh_db: str, statement: str) -> None:
    engine = _log(fresh_db, 2)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert audit.verify(engine).rows == 2


def test_an_altered_row_is_named(fresh_db: str) -> None:
    engine = _log(fresh_db, 6)
    _as_attacker(engine, "UPDATE gateway.audit_log SET decision = 'deny' WHERE seq = 4")
    report = audit.verify(engine)
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "altered")]


def test_an_altered_and_rehashed_row_is_named(fresh_db: str) -> None:
    engine = _log(fresh_db, 6)
    with engine.connect() as conn:
        row = audit.read(conn, after=2, limit=1)[0]
    forged = audit.AuditEntry(**{**row.entry.__dict__, "actor": "mallory"})
    _as_attacker(
        engine,
        f"UPDATE gateway.audit_log SET actor = 'mallory', "
        f"hash = '{audit.chain_hash(row.prev_hash, 3, forged)}' WHERE seq = 3",
    )
    assert [(p.seq, p.kind) for p in audit.verify(engine).problems] == [(3, "rehashed")]


def test_a_deleted_row_is_named(fresh_db: str) -> None:
    engine = _log(fresh_db, 6)
    _as_attacker(engine, "DELETE FROM gateway.audit_log WHERE seq = 2")
    problems = audit.verify(engine).problems
    assert [(p.seq, p.kind) for p in problems] == [(2, "deleted")]
    assert problems[0].message.startswith("row 2 deleted")


def test_rows_deleted_from_the_end_are_found_against_an_anchor(fresh_db: str) -> None:
    engine = _log(fresh_db, 6)
    head = audit.verify(engine)
    _as_attacker(engine, "DELETE FROM gateway.audit_log WHERE seq >= 5")
    assert audit.verify(engine).ok  # without an anchor, a shortened chain is still a chain
    problems = audit.verify(engine, anchor=(head.head_seq, head.head_hash)).problems
    assert [(p.seq, p.kind) for p in problems] == [(6, "deleted")]
    assert "rows 5 to 6 deleted" in problems[0].message


def test_concurrent_writers_keep_one_gapless_chain(fresh_db: str) -> None:
    engine = connect(fresh_db)

    def write(who: str) -> None:
        for _ in range(10):
            with engine.begin() as conn:
                audit.append(conn, _entries(3, who))

    threads = [threading.Thread(target=write, args=(f"writer-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = audit.verify(engine)
    assert report.ok and report.rows == report.head_seq == 120


def test_admin_changes_are_logged_allowed_and_denied(fresh_db: str) -> None:
    admin = Admin(connect(fresh_db))
    admin.add_principal(Actor("root", "req-1"), "dana", "service")
    admin.grant(Actor("root", "req-2"), "dana", "deployer")
    with pytest.raises(Exception, match="separation of duty"):
        admin.grant(Actor("root", "req-3"), "dana", "auditor")
    with admin.engine.connect() as conn:
        rows = audit.read(conn)
    assert [(r.entry.action, r.entry.decision, r.entry.request_id) for r in rows] == [
        ("principals.add", "allow", "req-1"),
        ("roles.grant", "allow", "req-2"),
        ("roles.grant", "deny", "req-3"),
    ]
    assert rows[2].entry.detail == {"role": "auditor", "error": "separation_of_duty"}


def test_the_cli_names_the_broken_row_in_one_line(fresh_db: str, monkeypatch, tmp_path) -> None:
    engine = _log(fresh_db, 4)
    _as_attacker(engine, "DELETE FROM gateway.audit_log WHERE seq = 3")
    monkeypatch.setattr("aiprime.cli.audit.engine", lambda: connect(fresh_db))
    result = CliRunner().invoke(cli, ["audit", "verify", "--heads", str(tmp_path)])
    assert result.exit_code == 1
    assert "row 3 deleted" in result.output
    assert "error: The audit log's hash chain is broken in 1 place(s), first at row 3" in result.output
    assert "Traceback" not in result.output
