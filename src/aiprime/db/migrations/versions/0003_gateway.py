"""The gateway's NIST RBAC (core, hierarchical, static SoD), API keys, and hash-chained audit log.

Everything lives in the PostgreSQL schema `gateway`. Roles, permissions, the hierarchy and the SSD constraints
are seeded here; a new principal holds no role (least privilege). Two triggers carry the guarantees that must
hold whoever writes SQL: `principal_roles` refuses an assignment that breaks an SSD constraint (the roles a
principal is authorized for include the juniors of its assigned roles), and `audit_log` refuses UPDATE,
DELETE and TRUNCATE.

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0001"
branch_labels = ("gateway",)
depends_on = None

S = "gateway"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._@:|+-]{0,127}$"  # also fits OIDC subjects such as 'auth0|42'

PERMISSIONS = {
    "predict": "POST /v1/predict: run the inference graph",
    "explain": "POST /v1/explain: explain a prediction",
    "ask": "POST /v1/ask: retrieval-augmented answers",
    "ingest": "POST /v1/ingest: ingest and version data",
    "train": "POST /v1/train: start a training pipeline",
    "deploy": "POST /v1/deploy: promote a model version to serving",
    "admin": "/v1/admin/*: manage principals, role assignments and API keys",
    "read-audit": "GET /v1/audit: read and verify the audit log",
}
# role: (description, direct permissions, juniors it inherits from)
ROLES = {
    "viewer": ("calls the models", ["predict", "explain", "ask"], []),
    "operator": ("runs data and training pipelines", ["ingest", "train"], ["viewer"]),
    "deployer": ("promotes models to serving", ["deploy"], ["operator"]),
    "admin": ("manages principals and their roles", ["admin"], ["deployer"]),
    "auditor": ("reads the audit log; holds nothing else", ["read-audit"], []),
}
SSD = {"deploy-vs-audit": ("who deploys (or administers) does not audit", 2, ["deployer", "auditor"])}

SSD_TRIGGER = f"""
CREATE FUNCTION {S}.enforce_ssd() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE broken record;
BEGIN
  -- Serialize assignments per principal, so two concurrent grants cannot both pass the check.
  PERFORM 1 FROM {S}.principals WHERE name = NEW.principal FOR UPDATE;
  WITH RECURSIVE authorized(role) AS (
    SELECT role FROM {S}.principal_roles WHERE principal = NEW.principal
    UNION SELECT h.junior FROM {S}.role_inheritance h JOIN authorized a ON h.senior = a.role
  )
  SELECT c.name, c.cardinality, string_agg(r.role, ', ' ORDER BY r.role) AS roles INTO broken
  FROM {S}.ssd_constraints c JOIN {S}.ssd_roles r ON r.constraint_name = c.name
  WHERE r.role IN (SELECT role FROM authorized)
  GROUP BY c.name, c.cardinality HAVING count(*) >= c.cardinality LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'static separation of duty %: % would be authorized for % of {{%}}',
      broken.name, NEW.principal, broken.cardinality, broken.roles
      USING ERRCODE = 'check_violation', CONSTRAINT = broken.name;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER principal_roles_ssd AFTER INSERT OR UPDATE ON {S}.principal_roles
  FOR EACH ROW EXECUTE FUNCTION {S}.enforce_ssd();
"""

APPEND_ONLY = f"""
CREATE FUNCTION {S}.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'gateway.audit_log is append-only: % is refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON {S}.audit_log
  FOR EACH ROW EXECUTE FUNCTION {S}.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {S}.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION {S}.audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON {S}.audit_log FROM PUBLIC;
"""


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {S}")
    _rbac_tables()
    _key_and_audit_tables()
    _seed()
    op.execute(SSD_TRIGGER)
    op.execute(APPEND_ONLY)


def _rbac_tables() -> None:
    op.create_table(
        "permissions", sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False), schema=S,
    )  # fmt: skip
    op.create_table(
        "roles",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "role_permissions",
        sa.Column("role", sa.Text, sa.ForeignKey(f"{S}.roles.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("permission", sa.Text, sa.ForeignKey(f"{S}.permissions.name", ondelete="CASCADE"),
                  primary_key=True),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "role_inheritance",
        sa.Column("senior", sa.Text, sa.ForeignKey(f"{S}.roles.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("junior", sa.Text, sa.ForeignKey(f"{S}.roles.name", ondelete="CASCADE"), primary_key=True),
        sa.CheckConstraint("senior <> junior", name="ck_role_inheritance_not_self"),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "principals",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False, comment="user, service or external"),
        sa.Column("password_hash", sa.Text, comment="Argon2id PHC string; null: no password login"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.CheckConstraint(f"name ~ '{NAME}'", name="ck_principals_name"),
        sa.CheckConstraint("kind IN ('user', 'service', 'external')", name="ck_principals_kind"),
        sa.CheckConstraint("password_hash IS NULL OR kind = 'user'", name="ck_principals_password_users"),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "principal_roles",
        sa.Column("principal", sa.Text, sa.ForeignKey(f"{S}.principals.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role", sa.Text, sa.ForeignKey(f"{S}.roles.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("granted_by", sa.Text, nullable=False),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "ssd_constraints",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("cardinality", sa.Integer, nullable=False, comment="holding this many is refused"),
        sa.CheckConstraint("cardinality >= 2", name="ck_ssd_cardinality"),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "ssd_roles",
        sa.Column("constraint_name", sa.Text, sa.ForeignKey(f"{S}.ssd_constraints.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role", sa.Text, sa.ForeignKey(f"{S}.roles.name", ondelete="CASCADE"), primary_key=True),
        schema=S,
    )  # fmt: skip


def _key_and_audit_tables() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("principal", sa.Text, sa.ForeignKey(f"{S}.principals.name", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("secret_sha256", sa.Text, nullable=False, comment="hex SHA-256 of the 256-bit secret part"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=S,
    )  # fmt: skip
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False,
                  comment="1, 2, 3, ... without gaps: a gap is a deleted row"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("request_id", sa.Text),
        sa.Column("trace_id", sa.Text),
        sa.Column("detail", JSONB, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False, comment="sha256(prev_hash, canonical JSON of this row)"),
        sa.CheckConstraint("decision IN ('allow', 'deny')", name="ck_audit_log_decision"),
        schema=S,
    )  # fmt: skip
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"], schema=S)
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor", "seq"], schema=S)


def _seed() -> None:
    table = sa.table
    col = sa.column
    op.bulk_insert(
        table("permissions", col("name"), col("description"), schema=S),
        [{"name": n, "description": d} for n, d in PERMISSIONS.items()],
    )
    op.bulk_insert(
        table("roles", col("name"), col("description"), schema=S),
        [{"name": n, "description": d} for n, (d, _, _) in ROLES.items()],
    )
    op.bulk_insert(
        table("role_permissions", col("role"), col("permission"), schema=S),
        [{"role": n, "permission": p} for n, (_, perms, _) in ROLES.items() for p in perms],
    )
    op.bulk_insert(
        table("role_inheritance", col("senior"), col("junior"), schema=S),
        [{"senior": n, "junior": j} for n, (_, _, juniors) in ROLES.items() for j in juniors],
    )
    op.bulk_insert(
        table("ssd_constraints", col("name"), col("description"), col("cardinality"), schema=S),
        [{"name": n, "description": d, "cardinality": c} for n, (d, c, _) in SSD.items()],
    )
    op.bulk_insert(
        table("ssd_roles", col("constraint_name"), col("role"), schema=S),
        [{"constraint_name": n, "role": r} for n, (_, _, roles) in SSD.items() for r in roles],
    )


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
