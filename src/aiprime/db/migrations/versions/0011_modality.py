"""Cross-modal retrieval: each chunk says what its vector came from (`modality`: text, image or audio).

Image chunks (a stamp's image vector, mapped into the MiniLM space by the image-text link) sit in the same
`rag_chunks` table and under the same HNSW index as text chunks, so one query vector searches both; a
`modality` filter picks one kind (pgvector's iterative index scan keeps the filtered HNSW scan going). Every
existing row is text, the default, so existing stores migrate instantly.

Revision ID: 0011
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0007"  # the retrieval branch: the column extends its chunks
branch_labels = None
depends_on = None

MODALITIES = ("text", "image", "audio")  # aiprime.rag.store.MODALITIES


def upgrade() -> None:
    op.add_column(
        "rag_chunks",
        sa.Column(
            "modality",
            sa.Text,
            nullable=False,
            server_default="text",
            comment="what the vector was made from",
        ),
    )
    allowed = ", ".join(f"'{m}'" for m in MODALITIES)
    op.create_check_constraint("ck_rag_chunks_modality", "rag_chunks", f"modality IN ({allowed})")
    op.create_index("ix_rag_chunks_collection_modality", "rag_chunks", ["collection_id", "modality"])


def downgrade() -> None:
    op.drop_index("ix_rag_chunks_collection_modality", "rag_chunks")
    op.drop_constraint("ck_rag_chunks_modality", "rag_chunks")
    op.drop_column("rag_chunks", "modality")
