"""Agent runs and their steps in PostgreSQL (schema `agents`, migration 0010), and LangGraph's checkpointer.

The run rows are what `aiprime agents runs|show` and the console read; the checkpoints (LangGraph's
`PostgresSaver`, in the same schema) are what a waiting run resumes from.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from sqlalchemy.engine import Engine

from aiprime.db.urls import parse_url
from aiprime.errors import NotFound

SCHEMA = "agents"
STATUSES = ("running", "waiting", "done", "failed", "cancelled")  # the CHECK of agents.runs


@dataclass(frozen=True)
class Step:
    """One tool call of a run."""

    index: int
    tool: str
    input: str
    status: str
    message: str
    output: Any
    http_status: int | None
    request_id: str | None
    trace_id: str | None
    duration_ms: float
    reward: float | None = None


@dataclass(frozen=True)
class Run:
    """A run of a declared agent, with its steps when read one by one."""

    id: str
    agent: str
    agent_version: int
    principal: str
    task: str
    status: str
    reason: str | None
    plan: tuple[str, ...]
    policy: str | None  # what chose the plan
    propensity: float | None
    answer: str | None
    created_at: datetime
    updated_at: datetime
    steps: tuple[Step, ...] = ()


def new_run_id() -> str:
    """A fresh run id: the LangGraph thread id and the X-Agent-Run header (a sane request-id token)."""
    return uuid.uuid4().hex


class RunStore:
    """Reads and writes `agents.runs` and `agents.steps` through one engine."""

    def __init__(self, engine: Engine) -> None:
        """Args: engine is on the `aiprime` database, migrated to 0010 or later."""
        self.engine = engine

    def start(self, run_id: str, agent: str, version: int, principal: str, task: str) -> None:
        """Record a new run, `running`."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"INSERT INTO {SCHEMA}.runs (id, agent, agent_version, principal, task, status) "
                    "VALUES (:i, :a, :v, :p, :t, 'running')"
                ),
                {"i": run_id, "a": agent, "v": version, "p": principal, "t": task},
            )

    def update(self, run_id: str, **fields: Any) -> None:
        """Set some of status, reason, plan, policy, propensity, answer."""
        allowed = {"status", "reason", "plan", "policy", "propensity", "answer"}
        assert set(fields) <= allowed, f"unknown run fields {set(fields) - allowed}"
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(f"UPDATE {SCHEMA}.runs SET {assignments}, updated_at = now() WHERE id = :i"),
                {**fields, "i": run_id},
            )

    def claim(self, run_id: str, reason: str | None) -> bool:
        """Mark a run that still waits for `reason` as running; False if another decision took it first."""
        with self.engine.begin() as conn:
            claimed = conn.execute(
                sa.text(
                    f"UPDATE {SCHEMA}.runs SET status = 'running', updated_at = now() "
                    "WHERE id = :i AND status = 'waiting' AND reason IS NOT DISTINCT FROM :r RETURNING id"
                ),
                {"i": run_id, "r": reason},
            ).first()
        return claimed is not None

    def add_step(self, run_id: str, step: Step) -> None:
        """Record a tool call (a step replayed from a checkpoint keeps its first record)."""
        row = {**step.__dict__, "output": json.dumps(step.output), "run_id": run_id}
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'INSERT INTO {SCHEMA}.steps (run_id, "index", tool, input, status, message, output, '
                    "http_status, request_id, trace_id, duration_ms, reward) VALUES (:run_id, :index, :tool, "
                    ":input, :status, :message, CAST(:output AS jsonb), :http_status, :request_id, :trace_id, "
                    ":duration_ms, :reward) ON CONFLICT DO NOTHING"
                ),
                row,
            )

    def list(self, limit: int = 50, principal: str | None = None) -> list[Run]:
        """The latest runs, newest first (of one principal when given), without their steps."""
        where = "WHERE principal = :p" if principal else ""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(f"SELECT * FROM {SCHEMA}.runs {where} ORDER BY created_at DESC LIMIT :n"),
                {"p": principal, "n": limit},
            ).mappings()
            return [_run(row) for row in rows]

    def recent_tasks(self, limit: int, agent: str | None = None) -> list[str]:
        """The tasks of the latest `limit` runs (of `agent`: every agent's if None), oldest first: the
        traffic the agents' drift check compares with the policy's training tasks."""
        where = "WHERE agent = :a" if agent else ""
        with self.engine.connect() as conn:
            tasks = conn.execute(
                sa.text(f"SELECT task FROM {SCHEMA}.runs {where} ORDER BY created_at DESC LIMIT :n"),
                {"a": agent, "n": limit},
            ).scalars()
            return list(tasks)[::-1]

    def get(self, run_id: str) -> Run:
        """The run with its steps; NotFound names the command that lists them."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(f"SELECT * FROM {SCHEMA}.runs WHERE id = :i"), {"i": run_id}
            ).mappings()
            found = row.first()
            if found is None:
                raise NotFound(f"No agent run {run_id!r}; `aiprime agents runs` lists them.")
            steps = conn.execute(
                sa.text(f'SELECT * FROM {SCHEMA}.steps WHERE run_id = :i ORDER BY "index"'), {"i": run_id}
            ).mappings()
            return _run(found, tuple(_step(s) for s in steps))


def _run(row: Any, steps: tuple[Step, ...] = ()) -> Run:
    fields = {k: row[k] for k in Run.__dataclass_fields__ if k != "steps"}
    return Run(**{**fields, "plan": tuple(row["plan"] or ())}, steps=steps)


def _step(row: Any) -> Step:
    return Step(**{k: row[k] for k in Step.__dataclass_fields__})


@contextmanager
def checkpointer(db_url: str) -> Iterator[PostgresSaver]:
    """LangGraph's PostgreSQL checkpointer on the `aiprime` database, its tables in schema `agents`
    (created by migration 0010)."""
    url = parse_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(
        url,
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        options=f"-c search_path={SCHEMA}",
    ) as conn:
        yield PostgresSaver(conn)  # its tables come from migration 0010, so setup() never runs here
