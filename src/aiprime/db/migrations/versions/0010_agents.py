"""Agents: their runs and each run's steps (schema `agents`), beside LangGraph's checkpoints.

- table `agents.runs`: one row per run of a declared agent: who ran it (the token's principal), the
  agent's name and version, the task, the plan its policy chose with the policy and the propensity, the status
  (running, waiting (a person's approval or a limit reached: the checkpoint holds it), done, failed,
  cancelled) and the answer.
- table `agents.steps`: each tool call of a run: the tool, its input, the step's status (ok, forbidden,
  timeout, ...), the output (bounded by the agent's limits), the gateway's request id (its audit row),
  the trace id, the duration and the reward (the task suite's, when it is known).
- LangGraph's checkpoint tables (`langgraph-checkpoint-postgres` 3.2.0's `PostgresSaver.MIGRATIONS`, its
  indexes built here without CONCURRENTLY, which a transaction refuses), each recorded in its
  `checkpoint_migrations` so its `setup()` finds nothing to do: the runtime never creates tables. A newer
  checkpointer with more migrations needs a new revision (tests/agents/test_runs.py compares the counts).
- permission `python` (`POST /v1/agents/python`: run code in the bubblewrap sandbox, the agents' python
  tool), granted to `viewer`, so every role above it inherits it; `auditor` stays apart.
- the gateway's role `aiprime_gateway` may read and write these tables (the agents' routes on the gateway
  list runs and resume them from their checkpoints), and nothing else of the schema.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

S = "agents"
ROLE = "aiprime_gateway"
PYTHON = "POST /v1/agents/python: run Python in the sandbox (the python tool of agents)"
STATUSES = ("running", "waiting", "done", "failed", "cancelled")


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {S}")
    op.create_table(
        "runs",
        sa.Column(
            "id", sa.Text, primary_key=True, comment="the run id: the LangGraph thread and X-Agent-Run"
        ),
        sa.Column("agent", sa.Text, nullable=False),
        sa.Column("agent_version", sa.Integer, nullable=False),
        sa.Column("principal", sa.Text, nullable=False, comment="whose token the tools used"),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, comment="why it waits or stopped, for people"),
        sa.Column("plan", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("policy", sa.Text, comment="what chose the plan: a policy URI, or `rules` (and why)"),
        sa.Column("propensity", sa.Float, comment="the policy's probability of the chosen plan"),
        sa.Column("answer", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"status IN {STATUSES}", name="ck_runs_status"),
        schema=S,
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"], schema=S)
    op.create_table(
        "steps",
        sa.Column("run_id", sa.Text, sa.ForeignKey(f"{S}.runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("output", JSONB),
        sa.Column("http_status", sa.Integer),
        sa.Column("request_id", sa.Text, comment="the gateway's x-request-id: its audit row"),
        sa.Column("trace_id", sa.Text),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("reward", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    _create_checkpoint_tables()
    op.execute(f"GRANT USAGE ON SCHEMA {S} TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {S} TO {ROLE}")
    op.execute(f"INSERT INTO gateway.permissions (name, description) VALUES ('python', '{PYTHON}')")
    op.execute("INSERT INTO gateway.role_permissions (role, permission) VALUES ('viewer', 'python')")


def _create_checkpoint_tables() -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    conn = op.get_bind()
    search_path = conn.exec_driver_sql("SHOW search_path").scalar()
    conn.exec_driver_sql(f"SET search_path TO {S}")  # its statements name their tables unqualified
    for version, statement in enumerate(PostgresSaver.MIGRATIONS):
        conn.exec_driver_sql(statement.replace("CONCURRENTLY ", ""))
        conn.exec_driver_sql(f"INSERT INTO checkpoint_migrations (v) VALUES ({version})")
    conn.exec_driver_sql(f"SET search_path TO {search_path}")


def downgrade() -> None:
    op.execute("DELETE FROM gateway.permissions WHERE name = 'python'")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {S} FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {S} FROM {ROLE}")
    op.execute(f"DROP SCHEMA {S} CASCADE")
