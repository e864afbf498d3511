"""The gateway reads the retrieval store: `POST /v1/search/image` (aiprime.gateway.media_routes) searches the
stamps' image chunks and the text chunks in the gateway's own process, as its least-privilege role.

The role gets SELECT on the three tables a vector search reads and nothing else: it still cannot write the
store, and the retriever keeps serving text search.

Revision ID: 0012
Revises: 0010, 0011
"""

from alembic import op

revision = "0012"
down_revision = ("0010", "0011")  # the gateway's role (0005) meets the store's modality column (0011)
branch_labels = None
depends_on = None

ROLE = "aiprime_gateway"
TABLES = "rag_collections, rag_documents, rag_chunks"


def upgrade() -> None:
    op.execute(f"GRANT SELECT ON {TABLES} TO {ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT ON {TABLES} FROM {ROLE}")
