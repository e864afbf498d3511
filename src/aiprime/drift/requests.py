"""The request log in PostgreSQL: servers append, the drift check reads a recent window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.engine import Engine

from aiprime.errors import InvalidInput

EMBEDDING_DIM = 384

_metadata = sa.MetaData()
request_log = sa.Table(
    "request_log",
    _metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("logged_at", sa.DateTime(timezone=True)),
    sa.Column("model", sa.Text),
    sa.Column("embedding", Vector(EMBEDDING_DIM)),
    sa.Column("expert", sa.Text),
    sa.Column("expert_probability", sa.Float),
    sa.Column("prediction", sa.Text),
    sa.Column("request_id", sa.Text),
    sa.Column("model_version", sa.Text),
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as a server saw it."""

    model: str
    embedding: np.ndarray  # (384,) the request's sentence embedding
    expert: str
    expert_probability: float
    prediction: str | None = None
    request_id: str | None = None  # the x-request-id it came with
    model_version: str | None = None  # the registered version that served it, NAME@VERSION


def log_requests(engine: Engine, requests: list[LoggedRequest]) -> None:
    """Append requests to the log in one transaction."""
    for r in requests:
        if r.embedding.shape != (EMBEDDING_DIM,):
            raise InvalidInput(
                f"request embedding has shape {r.embedding.shape}; the log stores ({EMBEDDING_DIM},)"
            )
    rows = [
        {
            "model": r.model,
            "embedding": r.embedding,
            "expert": r.expert,
            "expert_probability": r.expert_probability,
            "prediction": r.prediction,
            "request_id": r.request_id,
            "model_version": r.model_version,
        }
        for r in requests
    ]
    with engine.begin() as conn:
        conn.execute(request_log.insert(), rows)


def recent_requests(engine: Engine, limit: int, model: str | None = None) -> tuple[np.ndarray, list[str]]:
    """The embeddings (N, 384) and gate choices of the last `limit` requests (of `model`: all if None), oldest
    first."""
    query = (
        sa.select(request_log.c.embedding, request_log.c.expert)
        .order_by(request_log.c.id.desc())
        .limit(limit)
    )
    if model is not None:
        query = query.where(request_log.c.model == model)
    with engine.connect() as conn:
        rows = conn.execute(query).all()[::-1]
    if not rows:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32), []
    return np.stack([np.asarray(r.embedding, dtype=np.float32) for r in rows]), [r.expert for r in rows]
