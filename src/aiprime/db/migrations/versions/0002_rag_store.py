"""The retrieval store: collections, documents (keyed by content hash) and their embedded chunks.

A chunk carries a 384-dim embedding (all-MiniLM-L6-v2) and a generated English `tsvector` with a GIN index,
so dense and lexical search read the same rows. The HNSW index is not created here: `aiprime.rag.store.
ensure_hnsw_index` builds it after a bulk load (much faster than growing it row by row) with tunable
`m` and `ef_construction`.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

revision = "0002"
down_revision = "0001"
branch_labels = ("rag",)
depends_on = None

EMBED_DIM = 384  # all-MiniLM-L6-v2; another model needs its own migration


def upgrade() -> None:
    op.create_table(
        "rag_collections",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("embedding_model", sa.Text, nullable=False, comment="model id the vectors come from"),
        sa.Column("data_version", sa.Text, comment="DVC md5 of the documents table, when known"),
        sa.Column(
            "meta", JSONB, nullable=False, server_default="{}", comment="chunking settings and the like"
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "rag_documents",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer,
            sa.ForeignKey("rag_collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("doc_id", sa.Text, nullable=False, comment="e.g. wn:n02084071, foldoc:Lisp, pydoc:...#..."),
        sa.Column(
            "content_hash", sa.Text, nullable=False, comment="sha256 of everything that shaped the chunks"
        ),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("data_version", sa.Text),
        sa.UniqueConstraint("collection_id", "doc_id", name="uq_rag_documents_collection_doc"),
    )
    op.create_table(
        "rag_chunks",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "document_id",
            sa.BigInteger,
            sa.ForeignKey("rag_documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "collection_id", sa.Integer, nullable=False, comment="copied from the document for filtering"
        ),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False, comment="sha256 of doc_id, index and content"),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False, comment="the embedded text: title line, then the body"),
        sa.Column("embedding", Vector(EMBED_DIM), nullable=False),
        sa.Column("tsv", TSVECTOR, sa.Computed("to_tsvector('english', content)", persisted=True)),
        sa.UniqueConstraint("collection_id", "content_hash", name="uq_rag_chunks_collection_hash"),
    )
    op.create_index("ix_rag_chunks_document", "rag_chunks", ["document_id"])
    op.create_index("ix_rag_chunks_tsv", "rag_chunks", ["tsv"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_table("rag_chunks")
    op.drop_table("rag_documents")
    op.drop_table("rag_collections")
