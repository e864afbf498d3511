"""Enable pgvector and record every dataset version that `aiprime data ingest` produced.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, comment="table name, e.g. classification"),
        sa.Column("stage", sa.Text, nullable=False, comment="DVC stage that produced it"),
        sa.Column("path", sa.Text, nullable=False, comment="file path relative to the repository"),
        sa.Column("dvc_md5", sa.Text, nullable=False, comment="md5 of the stage output in dvc.lock"),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("name", "dvc_md5", name="uq_dataset_versions_name_md5"),
    )


def downgrade() -> None:
    op.drop_table("dataset_versions")
