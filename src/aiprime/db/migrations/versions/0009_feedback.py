"""Feedback: the right fine class of a logged request, recorded through the gateway, for the next retrain.

- table `feedback`: one row per (request id, principal) — `uq_feedback_request_principal` refuses a second
  label from the same person for the same request, whoever writes SQL. The label is a lexname (one of the 45
  fine classes); the gate's domain follows from it (`aiprime.drift.feedback`). `request_log_id` points at the
  gate's logged row (its embedding is what the retrain learns from); deleting that row deletes the label,
  which could no longer train anything.
- permission `feedback` (`POST /v1/feedback`), granted to `operator`: a label trains the next gate, so it is
  training data, written by those who may run training (deployer and admin inherit it); viewers and the
  service accounts that call the models may not steer the gate.
- the gateway's role `aiprime_gateway` may SELECT and INSERT `feedback` (no UPDATE, no DELETE).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

S = "gateway"
ROLE = "aiprime_gateway"
DESCRIPTION = "POST /v1/feedback: record the right label of a logged request, for retraining"


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False, comment="the x-request-id of the logged request"),
        sa.Column("principal", sa.Text, nullable=False, comment="who gave it: the token's subject"),
        sa.Column("label", sa.Text, nullable=False, comment="the right fine class, a lexname"),
        sa.Column(
            "request_log_id",
            sa.BigInteger,
            sa.ForeignKey("request_log.id", ondelete="CASCADE"),
            nullable=False,
            comment="the gate's logged row: its embedding is the training input",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("request_id", "principal", name="uq_feedback_request_principal"),
        sa.CheckConstraint("label <> ''", name="ck_feedback_label_not_empty"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.execute(f"GRANT SELECT, INSERT ON feedback TO {ROLE}")
    op.execute(f"INSERT INTO {S}.permissions (name, description) VALUES ('feedback', '{DESCRIPTION}')")
    op.execute(f"INSERT INTO {S}.role_permissions (role, permission) VALUES ('operator', 'feedback')")


def downgrade() -> None:
    op.execute(f"DELETE FROM {S}.permissions WHERE name = 'feedback'")
    op.execute(f"REVOKE ALL ON feedback FROM {ROLE}")
    op.drop_table("feedback")
