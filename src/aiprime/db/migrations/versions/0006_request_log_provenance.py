"""The request log records which request and which registered model version each row comes from.

`aiprime lineage REQUEST_ID` follows a gateway request (its `x-request-id`) to the gate's rows and from the
version to its training run and data. Both are NULL for rows logged before, or by a server that serves a
local folder rather than a registered version.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "request_log",
        sa.Column("request_id", sa.Text, nullable=True, comment="the x-request-id it came with"),
    )
    op.add_column(
        "request_log",
        sa.Column(
            "model_version", sa.Text, nullable=True, comment="the registered version served, NAME@VERSION"
        ),
    )
    op.create_index("ix_request_log_request_id", "request_log", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_request_log_request_id", "request_log")
    op.drop_column("request_log", "model_version")
    op.drop_column("request_log", "request_id")
