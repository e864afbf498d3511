"""Audit chains for the tests: a log of n rows, and the forgery a superuser can make of one.

Also an S3 API on 127.0.0.1 (moto's server) for the heads published to an Object Lock bucket.
"""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from aiprime.cli import app as cli
from aiprime.db.engine import connect
from aiprime.security import audit


def log(url: str, n: int) -> sa.Engine:
    """The database at `url` with `n` audit rows appended; its engine."""
    engine = connect(url)
    entries = [
        audit.AuditEntry("alice", "POST /v1/predict", "predict", "allow", 200, f"r{i}") for i in range(n)
    ]
    with engine.begin() as conn:
        audit.append(conn, entries)
    return engine


def rewrite_and_truncate(engine: sa.Engine, rewrite: int, keep: int, append: int = 0) -> None:
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


def verify_cli(url: str, heads: object, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """`aiprime audit verify --heads HEADS` on the database at `url`: its exit code and output."""
    monkeypatch.setattr("aiprime.cli.audit.engine", lambda: connect(url))
    result = CliRunner().invoke(cli, ["audit", "verify", "--heads", str(heads)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@contextlib.contextmanager
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 API on 127.0.0.1, which boto3 then reaches through AWS_ENDPOINT_URL_S3; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its buckets in the process, across servers: start each test from none
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    for name, value in {
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield url
    finally:
        server.stop()
