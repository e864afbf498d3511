"""The embedded PostgreSQL: pgvector works, HNSW answers queries, a stale lock file does not lose data."""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import quote

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aiprime.db import embedded
from aiprime.db.engine import connect
from aiprime.db.urls import database_url


class _Base(DeclarativeBase):
    pass


class _Item(_Base):
    __tablename__ = "items_test_embedded"
    id: Mapped[int] = mapped_column(primary_key=True)
    embedding = mapped_column(Vector(8))


def test_vector_round_trip_and_hnsw_query(pg_server_url: str) -> None:
    engine = connect(pg_server_url)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    _Base.metadata.drop_all(engine)
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(_Item(id=i, embedding=v) for i, v in enumerate(vectors))
        session.commit()
        assert np.allclose(session.get(_Item, 7).embedding, vectors[7])
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE INDEX ON items_test_embedded USING hnsw (embedding vector_cosine_ops)"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        query = sa.select(_Item.id).order_by(_Item.embedding.cosine_distance(vectors[42])).limit(3)
        plan = "\n".join(
            conn.execute(
                sa.text("EXPLAIN " + str(query.compile(engine, compile_kwargs={"literal_binds": True})))
            ).scalars()
        )
        nearest = conn.execute(query).scalars().all()
    assert "items_test_embedded_embedding_idx" in plan, plan
    assert nearest[0] == 42


def test_server_restarts_over_a_stale_lock_file_and_keeps_data(tmp_path) -> None:
    pg_dir = tmp_path / "pg"
    url = embedded.start_embedded(pg_dir)
    engine = connect(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE kept (x int)"))
        conn.execute(sa.text("INSERT INTO kept VALUES (41), (1)"))
    engine.dispose()
    postmaster = int((pg_dir / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)  # a crash: the lock file stays behind with a dead pid
    _wait_until_gone(postmaster)
    assert (pg_dir / "postmaster.pid").exists()
    url = embedded.start_embedded(pg_dir)
    engine = connect(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(x) FROM kept")).scalar() == 42
    engine.dispose()
    assert embedded.stop_embedded(pg_dir)
    assert embedded.running_url(pg_dir) is None
    assert database_url(url, "aiprime").endswith("/aiprime?host=" + quote(str(pg_dir), safe=""))


def test_a_truncated_lock_file_is_moved_aside_not_deleted(tmp_path) -> None:
    pg_dir = tmp_path / "pg"
    embedded.start_embedded(pg_dir)
    embedded.stop_embedded(pg_dir)
    (pg_dir / "postmaster.pid").write_text("999999\n")
    assert embedded.running_url(pg_dir) is None
    embedded.start_embedded(pg_dir)
    assert embedded.running_url(pg_dir) is not None
    assert [p.read_text() for p in pg_dir.glob("postmaster.pid.stale-*")] == ["999999\n"]
    embedded.stop_embedded(pg_dir)


def _wait_until_gone(pid: int) -> None:
    for _ in range(600):  # 30 s: a loaded machine is slow to tear a killed server down
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive 30 s after SIGKILL")
