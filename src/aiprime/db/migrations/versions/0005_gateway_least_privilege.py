"""Gateway hardening: principal ids that are never reused, reserved names, and the gateway's own role.

- `principals.id`: a random UUID per principal. Tokens carry it (`pid`), so a token of a removed principal
  stays dead when an admin creates the same name again.
- `ck_principals_not_reserved`: no principal may be named like the audit log's own actors (`anonymous`,
  `cli:...`, `system:...`). NOT VALID: it checks every new or changed row, not rows already there.
- The role `aiprime_gateway` (cluster-wide, created once): the gateway connects as it. It may read the
  gateway schema, change principals, role assignments and API keys, and only INSERT into the audit log (no
  UPDATE, DELETE or TRUNCATE, whatever the triggers say).

Revision ID: 0005
Revises: 0003
"""

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "gateway"
ROLE = "aiprime_gateway"

CREATE_ROLE = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    CREATE ROLE {ROLE} LOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ROLE}', current_database());
END $$;
"""
GRANTS = f"""
GRANT USAGE ON SCHEMA {S} TO {ROLE};
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {S} TO {ROLE};
GRANT UPDATE, DELETE ON {S}.principals, {S}.principal_roles, {S}.api_keys TO {ROLE};
REVOKE UPDATE, DELETE, TRUNCATE ON {S}.audit_log FROM {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA {S} GRANT SELECT, INSERT ON TABLES TO {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA {S} GRANT USAGE ON SEQUENCES TO {ROLE};
"""
NOT_RESERVED = (
    "lower(name) <> 'anonymous' AND lower(name) NOT LIKE 'cli:%' AND lower(name) NOT LIKE 'system:%'"
)


def upgrade() -> None:
    op.execute(f"ALTER TABLE {S}.principals ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid()")
    op.execute(f"ALTER TABLE {S}.principals ADD CONSTRAINT uq_principals_id UNIQUE (id)")
    op.execute(
        f"ALTER TABLE {S}.principals ADD CONSTRAINT ck_principals_not_reserved CHECK ({NOT_RESERVED}) NOT VALID"
    )
    op.execute(CREATE_ROLE)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {S} REVOKE ALL ON TABLES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {S} REVOKE ALL ON SEQUENCES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {S} FROM {ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA {S} FROM {ROLE}")
    op.execute(
        f"DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {ROLE}', current_database()); END $$"
    )
    op.execute(f"ALTER TABLE {S}.principals DROP CONSTRAINT ck_principals_not_reserved")
    op.execute(f"ALTER TABLE {S}.principals DROP COLUMN id")
