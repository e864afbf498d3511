"""Published audit heads: a chain rewritten and truncated in the database is caught by `aiprime audit verify`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from _helpers.auditchain import log, rewrite_and_truncate, verify_cli

from aiprime.db.engine import connect
from aiprime.errors import AuditChainBroken
from aiprime.security import audit, auditheads


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
    engine = log(fresh_db, 6)
    code, output = verify_cli(fresh_db, tmp_path, monkeypatch)
    assert code == 0 and "published head 6" in output

    rewrite_and_truncate(engine, rewrite=3, keep=4, append=append)
    assert audit.verify(engine).ok  # by itself, the forged chain is a chain
    code, output = verify_cli(fresh_db, tmp_path, monkeypatch)
    assert code == 1
    assert named in output and "hash chain is broken" in output


def test_without_a_published_head_verify_says_what_it_could_not_check(
    fresh_db: str, tmp_path: Path, monkeypatch
) -> None:
    log(fresh_db, 2)
    code, output = verify_cli(fresh_db, tmp_path / "heads", monkeypatch)
    assert code == 0 and "no head was published" in output
    assert auditheads.FileHeads(tmp_path / "heads", connect(fresh_db).url.database).last().seq == 2


def test_heads_are_appended_to_an_owner_only_file(fresh_db: str, tmp_path: Path) -> None:
    engine = log(fresh_db, 3)
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
    engine = log(fresh_db, 5)
    store = auditheads.FileHeads(tmp_path, "aiprime")
    auditheads.publish_verified(engine, store)
    rewrite_and_truncate(engine, rewrite=2, keep=5, append=2)
    with pytest.raises(AuditChainBroken, match="Not publishing the audit head: row 5 altered and re-hashed"):
        auditheads.publish_verified(engine, store)
    assert store.last().seq == 5


def test_the_last_head_is_read_from_a_long_file(tmp_path: Path) -> None:
    store = auditheads.FileHeads(tmp_path, "aiprime")
    for seq in range(1, 201):  # about 26 kB, past the tail that is read
        store.publish(auditheads.Head(seq, f"{seq:064x}", "2026-12-06T00:00:00+00:00"))
    assert store.last() == auditheads.Head(200, f"{200:064x}", "2026-12-06T00:00:00+00:00")
