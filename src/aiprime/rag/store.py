"""The retrieval store in PostgreSQL: the tables of migrations 0002, 0007 and 0011, the HNSW index, per-query settings.

The tables are declared here as SQLAlchemy Core objects for queries only; Alembic owns the schema. Search
settings are set with `SET LOCAL`, so they last one transaction and never leak into a pooled connection.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import sqlalchemy as sa
from pgvector.sqlalchemy import SPARSEVEC, Vector
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.engine import Connection, Engine

from aiprime.errors import ConfigError, InvalidInput, NotFound

EMBED_DIM = 384  # the column width of migration 0002
TERM_SPACE = 1 << 29  # the sparsevec width of migration 0007: hashed term ids
HNSW_INDEX = "ix_rag_chunks_embedding_hnsw"
MODALITIES = ("text", "image", "audio")  # migration 0011: what a chunk's vector was made from

metadata = sa.MetaData()
collections = sa.Table(
    "rag_collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("embedding_model", sa.Text),
    sa.Column("data_version", sa.Text),
    sa.Column("meta", JSONB),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
documents = sa.Table(
    "rag_documents",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("collection_id", sa.Integer),
    sa.Column("doc_id", sa.Text),
    sa.Column("content_hash", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("data_version", sa.Text),
)
chunks = sa.Table(
    "rag_chunks",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("document_id", sa.BigInteger),
    sa.Column("collection_id", sa.Integer),
    sa.Column("chunk_index", sa.Integer),
    sa.Column("content_hash", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("content", sa.Text),
    sa.Column("embedding", Vector(EMBED_DIM)),
    sa.Column("tsv", TSVECTOR),
    sa.Column("modality", sa.Text),  # migration 0011
)
chunk_bm25 = sa.Table(  # migration 0007, filled by aiprime.rag.lexical.refresh
    "rag_chunk_bm25",
    metadata,
    sa.Column("chunk_id", sa.BigInteger, primary_key=True),
    sa.Column("collection_id", sa.Integer),
    sa.Column("lex_len", sa.Integer),
    sa.Column("lex_terms", ARRAY(sa.Integer)),
    sa.Column("lex_bm25", SPARSEVEC(TERM_SPACE)),
)


@dataclass(frozen=True)
class HnswParams:
    """Build parameters of the HNSW index (pgvector's defaults)."""

    m: int = 16  # links per node: more raises recall and memory
    ef_construction: int = 64  # candidate list while building: more raises recall and build time

    def __post_init__(self) -> None:
        if not (2 <= self.m <= 100 and 2 * self.m <= self.ef_construction <= 1000):
            raise InvalidInput(
                f"HNSW m={self.m}, ef_construction={self.ef_construction}: pgvector needs m in "
                "2..100 and ef_construction in 2*m..1000 (defaults: 16 and 64)."
            )


def column_dim(conn: Connection) -> int:
    """The dimension of `rag_chunks.embedding` as the database declares it."""
    dim = conn.execute(
        sa.text(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('rag_chunks') AND attname = 'embedding'"
        )
    ).scalar()
    if dim is None:
        raise NotFound(
            "The table rag_chunks does not exist. Run `aiprime services up` (it migrates the schema)."
        )
    return int(dim)


def check_dim(conn: Connection, dim: int, what: str) -> None:
    """Raise ConfigError unless `dim` matches the embedding column; `what` names the vectors' origin."""
    expected = column_dim(conn)
    if dim != expected:
        raise ConfigError(
            f"{what} has dimension {dim}, but rag_chunks.embedding is vector({expected}). Use a {expected}-dim "
            "embedding model (all-MiniLM-L6-v2), or add a migration that changes the column and re-ingest."
        )


def check_model(conn: Connection, cid: int, model: str) -> None:
    """Raise ConfigError unless collection `cid` was embedded with `model` (an `Embedder.name`).

    Query vectors of another model land in another space: the cosines would rank noise, not fail.
    """
    name, stored = conn.execute(
        sa.select(collections.c.name, collections.c.embedding_model).where(collections.c.id == cid)
    ).one()
    if stored != model:
        raise ConfigError(
            f"Collection {name!r} was embedded with {stored}, but the queries are embedded with {model}. "
            "Set AIPRIME_RAG_EMBEDDER to the collection's model (minilm: all-MiniLM-L6-v2, minilm-int8: "
            f"all-MiniLM-L6-v2-onnx-int8), or re-ingest it with this one: `aiprime rag ingest --collection {name}`."
        )


def check_modality(modality: str | None) -> str | None:
    """`modality` if it is None or one of MODALITIES, else InvalidInput naming the choices."""
    if modality is not None and modality not in MODALITIES:
        raise InvalidInput(f"modality={modality!r} is not one of {', '.join(MODALITIES)}.")
    return modality


def collection_id(conn: Connection, name: str) -> int:
    """The id of the collection called `name`; NotFound says how to create it."""
    found = conn.execute(sa.select(collections.c.id).where(collections.c.name == name)).scalar()
    if found is None:
        raise NotFound(
            f"No retrieval collection named {name!r}. Create it with `aiprime rag ingest "
            f"--collection {name}`."
        )
    return found


def set_search_params(conn: Connection, ef_search: int, iterative: bool) -> None:
    """`SET LOCAL` the HNSW candidate list and, for filtered queries, pgvector 0.8's iterative index scan."""
    if not 1 <= ef_search <= 1000:
        raise InvalidInput(f"ef_search={ef_search} is out of range; pgvector accepts 1 to 1000 (try 40).")
    conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
    conn.execute(sa.text(f"SET LOCAL hnsw.iterative_scan = {'relaxed_order' if iterative else 'off'}"))


def hnsw_params(conn: Connection) -> HnswParams | None:
    """The parameters of the existing HNSW index, or None when there is none."""
    indexdef = conn.execute(
        sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": HNSW_INDEX}
    ).scalar()
    if indexdef is None:
        return None
    found = dict(re.findall(r"(m|ef_construction)='?(\d+)", indexdef))
    return HnswParams(int(found.get("m", 16)), int(found.get("ef_construction", 64)))


def ensure_hnsw_index(
    engine: Engine, params: HnswParams = HnswParams(), maintenance_work_mem: str = "2GB", force: bool = False
) -> float | None:
    """Build the cosine HNSW index unless one with `params` exists; return the build seconds, or None if kept.

    An index with other parameters (or any, with `force`) is dropped and rebuilt in the same transaction.
    `maintenance_work_mem` lets the graph be built in memory (4x faster than the default at 100k vectors).
    """
    if not re.fullmatch(r"\d+\s*[kMG]?B", maintenance_work_mem):
        raise InvalidInput(
            f"maintenance_work_mem={maintenance_work_mem!r} is not a size like '2GB' or '512MB'."
        )
    with engine.begin() as conn:
        if hnsw_params(conn) == params and not force:
            return None
        start = time.perf_counter()
        conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{maintenance_work_mem}'"))
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {HNSW_INDEX}"))
        conn.execute(
            sa.text(
                f"CREATE INDEX {HNSW_INDEX} ON rag_chunks USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {int(params.m)}, ef_construction = {int(params.ef_construction)})"
            )
        )
    return time.perf_counter() - start
