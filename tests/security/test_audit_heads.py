"""Published audit heads: a chain rewritten and truncated in the database is caught by `aiprime audit verify`."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from aiprime.cli import app as cli
from aiprime.db.engine import connect
from aiprime.errors import AuditChainBroken
from aiprime.security import audit, auditheads


def _log(url: str, n: int) -> sa.Engine:
    engine = connect(url)
    entries = [
        audit.AuditEntry("alice", "POST /v1/predict", "predict", "allow", 200, f"r{i}") for i in range(n)
    ]
    with engine.begin() as conn:
        audit.append(conn, entries)
    return engine


def _rewrite_and_truncate(engine: sa.Engine, rewrite: int, keep: int, append: int = 0) -> None:
    """As a superuser with the triggers off: change row `rewrite`, re-hash every row after it so the chain
    verifies by itself, delete the rows above `keep`, then append `append` fresh rows."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        rows = audit.read(conn, after=0, limit=10_000)
        prev = rows[rewrite - 2].hash if rewrite > 1 else audit.GENESIS
        for row in rows[rewrite - 1 : keep]:
            entry = replace(row.entry, actor="mallory") if row.seq == rewrite else row.entry
            digest = audit.chain_hash(prev, row.seq, entry)
            conn.execute(
                sa.text("UPDATE gateway.audit_log SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"a": entry.actor, "p": prev, "h": digest, "s": row.seq},
            )
            prev = digest
        conn.execute(sa.text("DELETE FROM gateway.audit_log WHERE seq > :k"), {"k": keep})
    if append:
        with engine.begin() as conn:
            audit.append(conn, [audit.AuditEntry("alice", "GET /x", "predict", "allow")] * append)


def _verify(url: str, heads: Path, monkeypatch) -> tuple[int, str]:
    monkeypatch.setattr("aiprime.cli.audit.engine", lambda: connect(url))
    result = CliRunner().invoke(cli, ["audit", "verify", "--heads", str(heads)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("append", "named"),
    [
        (0, "rows 5 to 6 deleted"),
        (3, "row 6 does not carry the hash"),  # the forged chain grew past the published head
    ],
)
def test_a_rewritten_and_truncated_chain_fails_against_the_published_head(
    fresh_db: str, tmp_path: Path, monkeypatch, append: int, named: str
) -> None:
    engine = _log(fresh_db, 6)
    code, output = _verify(fresh_db, tmp_path, monkeypatch)
    assert code == 0 and "published head 6" in output

    _rewrite_and_truncate(engine, rewrite=3, keep=4, append=append)
    assert audit.verify(engine).ok  # by itself, the forged chain is a chain
    code, output = _verify(fresh_db, tmp_path, monkeypatch)
    assert code == 1
    assert named in output and "hash chain is broken" in output


def test_without_a_published_head_verify_says_what_it_could_not_check(
    fresh_db: str, tmp_path: Path, monkeypatch
) -> None:
    _log(fresh_db, 2)
    code, output = _verify(fresh_db, tmp_path / "heads", monkeypatch)
    assert code == 0 and "no head was published" in output
    assert auditheads.FileHeads(tmp_path / "heads", connect(fresh_db).url.database).last().seq == 2


def test_heads_are_appended_to_an_owner_only_file(fresh_db: str, tmp_path: Path) -> None:
    engine = _log(fresh_db, 3)
    store = auditheads.FileHeads(tmp_path / "heads", "aiprime")
    assert auditheads.publish_verified(engine, store).seq == 3
    assert auditheads.publish_verified(engine, store) is None  # nothing new: nothing appended
    with engine.begin() as conn:
        audit.append(conn, [audit.AuditEntry("bob", "GET /x", "predict", "allow")])
    assert auditheads.publish_verified(engine, store).seq == 4
    assert [line.count('"seq"') for line in store.path.read_text().splitlines()] == [1, 1]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700


def test_a_head_is_never_published_over_a_rewritten_chain(fresh_db: str, tmp_path: Path) -> None:
    engine = _log(fresh_db, 5)
    store = auditheads.FileHeads(tmp_path, "aiprime")
    auditheads.publish_verified(engine, store)
    _rewrite_and_truncate(engine, rewrite=2, keep=5, append=2)
    with pytest.raises(AuditChainBroken, match="Not publishing the audit head: row 5 altered and re-hashed"):
        auditheads.publish_verified(engine, store)
    assert store.last().seq == 5


def test_the_last_head_is_read_from_a_long_file(tmp_path: Path) -> None:
    store = auditheads.FileHeads(tmp_path, "aiprime")
    for seq in range(1, 201):  # about 26 kB, past the tail that is read
        store.publish(auditheads.Head(seq, f"{seq:064x}", "2026-12-06T00:00:00+00:00"))
    assert store.last() == auditheads.Head(200, f"{200:064x}", "2026-12-06T00:00:00+00:00")
