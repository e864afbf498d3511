"""The console's permission, and the request log readable by the gateway (for an answer's lineage).

- permission `console`: use the AI Prime console (`/console/`, `/v1/console/*`), granted to `viewer`, so
  every role above it inherits it; `auditor` stays apart (it holds `read-audit` only).
- the gateway's role `aiprime_gateway` may SELECT `request_log`: the console draws a request's lineage,
  which follows the gate's logged decisions to the model version that made them.

It joins the gateway's branch (0005) and the request log's (0006, which gives request_log its request ids).

Revision ID: 0008
Revises: 0005, 0006
"""

from alembic import op

revision = "0008"
down_revision = ("0005", "0006")
branch_labels = None
depends_on = None

S = "gateway"
ROLE = "aiprime_gateway"
DESCRIPTION = "/console/ and /v1/console/*: the AI Prime console"


def upgrade() -> None:
    op.execute(f"INSERT INTO {S}.permissions (name, description) VALUES ('console', '{DESCRIPTION}')")
    op.execute(f"INSERT INTO {S}.role_permissions (role, permission) VALUES ('viewer', 'console')")
    op.execute(f"GRANT SELECT ON request_log TO {ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT ON request_log FROM {ROLE}")
    op.execute(f"DELETE FROM {S}.permissions WHERE name = 'console'")
