"""BM25 for the retrieval store: each chunk's BM25 term weights as a pgvector `sparsevec`, and the statistics.

`aiprime.rag.lexical.refresh` (ingest calls it after each run) gives every chunk a row in `rag_chunk_bm25`:
`lex_terms` (its distinct hashed term ids, GIN-indexed, so a query reads only the chunks that share a term
with it), `lex_len` (its length in terms) and `lex_bm25` (the BM25 document weights; a query's IDF weights
times these, summed, is the BM25 score, which `<#>` computes). A table of its own, deleted with its chunk,
so re-weighting never rewrites the chunks. `rag_lexicon` holds each term's document frequency per collection
and `rag_lexicon_stats` the collection's chunk count, total length and the avgdl its weights were computed
with. Existing stores migrate instantly; their next ingest (or `bench/rag_quality.py`) fills the rows.

Revision ID: 0007
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import SPARSEVEC
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0007"
down_revision = "0002"  # the retrieval branch: these columns extend its tables
branch_labels = None
depends_on = None

TERM_SPACE = 1 << 29  # hashed term ids: aiprime.rag.store.TERM_SPACE


def collection_key() -> sa.Column:
    """The collection a row of statistics belongs to (deleted with it)."""
    return sa.Column(
        "collection_id", sa.Integer, sa.ForeignKey("rag_collections.id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "rag_chunk_bm25",
        sa.Column(
            "chunk_id", sa.BigInteger, sa.ForeignKey("rag_chunks.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("collection_id", sa.Integer, nullable=False, comment="copied from the chunk for filtering"),
        sa.Column("lex_len", sa.Integer, nullable=False, comment="terms in the chunk"),
        sa.Column("lex_terms", ARRAY(sa.Integer), nullable=False, comment="distinct hashed term ids"),
        sa.Column("lex_bm25", SPARSEVEC(TERM_SPACE), nullable=False, comment="BM25 document term weights"),
    )
    op.create_index("ix_rag_chunk_bm25_terms", "rag_chunk_bm25", ["lex_terms"], postgresql_using="gin")
    op.create_index("ix_rag_chunk_bm25_collection", "rag_chunk_bm25", ["collection_id"])
    op.create_table(
        "rag_lexicon",
        collection_key(),
        sa.Column("term_id", sa.Integer, primary_key=True),
        sa.Column("df", sa.Integer, nullable=False, comment="chunks of the collection holding the term"),
    )
    op.create_table(
        "rag_lexicon_stats",
        collection_key(),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("total_len", sa.BigInteger, nullable=False),
        sa.Column("weights_avgdl", sa.Float, nullable=False, comment="avgdl the stored weights used"),
        sa.Column("params", sa.Text, nullable=False, comment="tokenizer version, k1 and b of the weights"),
    )


def downgrade() -> None:
    op.drop_table("rag_lexicon_stats")
    op.drop_table("rag_lexicon")
    op.drop_table("rag_chunk_bm25")
