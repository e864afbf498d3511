"""The request log: what the servers saw (embedding, gate decision, prediction), for drift detection.

Revision ID: 0004
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision = "0004"
down_revision = "0001"
branch_labels = ("drift",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("model", sa.Text, nullable=False, comment="the server that logged it, e.g. gate"),
        sa.Column("embedding", Vector(384), nullable=False),
        sa.Column("expert", sa.Text, nullable=False, comment="the gate's choice"),
        sa.Column("expert_probability", sa.Float, nullable=False),
        sa.Column("prediction", sa.Text, nullable=True, comment="the expert's fine class, when known"),
    )
    op.create_index("ix_request_log_logged_at", "request_log", ["logged_at"])


def downgrade() -> None:
    op.drop_table("request_log")
