"""The audit log: an append-only table `gateway.audit_log` whose rows form a SHA-256 hash chain.

Row n stores `hash = sha256(prev_hash || canonical JSON of its own fields)` with `prev_hash` the hash of row
n-1, and rows are numbered 1, 2, 3, ... without gaps (numbers are taken under an advisory lock, never from a
sequence that a rollback could skip). So `verify` names any row whose content was changed (its hash no longer
matches), re-hashed (the next row no longer links to it) or deleted (a gap). Deleting the newest rows, or
re-hashing every row from one on, leaves a chain that verifies by itself: compare it with a head published
earlier (`aiprime.security.auditheads`; `aiprime audit verify` does by default) or an anchor you kept
(`verify(..., anchor=...)`, `aiprime audit verify --anchor`).
The database refuses UPDATE, DELETE and TRUNCATE on the table (trigger `audit_log_no_update_delete`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine

GENESIS = "0" * 64  # the prev_hash of row 1
_LOCK = 0x41495052494D45  # pg_advisory_xact_lock key ("AIPRIME") serializing appends from every process
_TABLE = sa.table(
    "audit_log",
    *(
        sa.column(c)
        for c in (
            "seq",
            "at",
            "actor",
            "action",
            "resource",
            "decision",
            "status",
            "request_id",
            "trace_id",
            "prev_hash",
            "hash",
        )
    ),
    sa.column("detail", JSONB),
    schema="gateway",
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which resource, when, with which decision, under which request and trace."""

    actor: str  # principal name, `anonymous`, or `cli:<os user>`
    action: str  # `POST /v1/predict`, `users.grant`, ...
    resource: str  # the permission checked, or the object of an admin action (`user:bob`)
    decision: str  # allow | deny
    status: int | None = None  # HTTP status of the answer; None for CLI actions
    request_id: str | None = None
    trace_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # small JSON: strings, ints, bools only
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class AuditRow:
    """A stored entry with its place in the chain."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


def canonical(seq: int, entry: AuditEntry) -> bytes:
    """The bytes a row's hash covers: its number and fields as sorted, compact JSON."""
    fields = asdict(entry) | {"seq": seq, "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds")}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, seq: int, entry: AuditEntry) -> str:
    """`sha256(prev_hash || canonical(seq, entry))` as hex."""
    return hashlib.sha256(prev_hash.encode() + canonical(seq, entry)).hexdigest()


def append(conn: Connection, entries: Sequence[AuditEntry]) -> int:
    """Append `entries` in order inside the caller's transaction; return the number of the last row."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    last = conn.execute(sa.text("SELECT seq, hash FROM gateway.audit_log ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        digest = chain_hash(prev, seq, entry)
        rows.append(asdict(entry) | {"seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    if rows:
        conn.execute(sa.insert(_TABLE), rows)
    return seq


def read(
    conn: Connection,
    after: int = 0,
    limit: int = 100,
    actor: str | None = None,
    request_id: str | None = None,
) -> list[AuditRow]:
    """Rows numbered above `after`, oldest first, optionally of one actor or one request."""
    query = sa.select(_TABLE).where(sa.column("seq") > after).order_by(sa.column("seq")).limit(limit)
    if actor is not None:
        query = query.where(sa.column("actor") == actor)
    if request_id is not None:
        query = query.where(sa.column("request_id") == request_id)
    return [_row(r) for r in conn.execute(query)]


def _row(r: Any) -> AuditRow:
    entry = AuditEntry(
        r.actor, r.action, r.resource, r.decision, r.status, r.request_id, r.trace_id, r.detail, r.at
    )
    return AuditRow(r.seq, entry, r.prev_hash, r.hash)


@dataclass(frozen=True)
class Problem:
    """One break in the chain, naming the row."""

    seq: int
    kind: str  # altered | rehashed | deleted | anchor
    message: str


@dataclass(frozen=True)
class Report:
    """The outcome of `verify`."""

    rows: int
    head_seq: int
    head_hash: str
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Whether the chain verified."""
        return not self.problems


def verify(engine: Engine, anchor: tuple[int, str] | None = None) -> Report:
    """Walk the whole chain and report every altered, re-hashed or deleted row.

    Args:
        engine: the `aiprime` database.
        anchor: (seq, hash) of a head recorded earlier; rows deleted from the end are found against it.
    """
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=2000).execute(sa.select(_TABLE).order_by(sa.column("seq")))
        count, head, problems = _walk(_row(r) for r in result)
    if anchor is not None:
        problems.extend(_check_anchor(engine, anchor, head))
    return Report(count, head[0], head[1], tuple(problems))


def verify_since(engine: Engine, anchor: tuple[int, str] | None) -> Report:
    """Check only that the rows after `anchor` (seq, hash) extend it, and that its row still carries it.

    Cheap enough to run every minute: it reads the rows added since the anchor. None: the whole chain.
    """
    if anchor is None:
        return verify(engine)
    seq, digest = anchor
    with engine.connect() as conn:
        query = sa.select(_TABLE).where(sa.column("seq") > seq).order_by(sa.column("seq"))
        result = conn.execution_options(yield_per=2000).execute(query)
        count, head, problems = _walk((_row(r) for r in result), seq + 1, digest)
    problems.extend(_check_anchor(engine, anchor, head))
    return Report(count, head[0], head[1], tuple(problems))


def _walk(
    rows: Iterable[AuditRow], expected: int = 1, prev: str = GENESIS
) -> tuple[int, tuple[int, str], list[Problem]]:
    """Walk rows from number `expected`, whose predecessor's hash is `prev`."""
    problems: list[Problem] = []
    count = 0
    for row in rows:
        count += 1
        if row.seq > expected:
            gone = f"row {expected}" if row.seq == expected + 1 else f"rows {expected} to {row.seq - 1}"
            problems.append(
                Problem(expected, "deleted", f"{gone} deleted (row {row.seq} follows row {expected - 1})")
            )
        elif row.prev_hash != prev:
            problems.append(
                Problem(
                    row.seq - 1,
                    "rehashed",
                    f"row {row.seq - 1} altered and re-hashed (row {row.seq} links to another hash)",
                )
            )
        if chain_hash(row.prev_hash, row.seq, row.entry) != row.hash:
            problems.append(
                Problem(row.seq, "altered", f"row {row.seq} altered (its content does not match its hash)")
            )
        expected, prev = row.seq + 1, row.hash
    return count, (expected - 1, prev), problems


def _check_anchor(engine: Engine, anchor: tuple[int, str], head: tuple[int, str]) -> list[Problem]:
    seq, digest = anchor
    if seq > head[0]:
        return [
            Problem(
                seq,
                "deleted",
                f"rows {head[0] + 1} to {seq} deleted (the published head or anchor names row {seq}; "
                f"the log ends at row {head[0]})",
            )
        ]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT hash FROM gateway.audit_log WHERE seq = :s"), {"s": seq}
        ).scalar()
    if stored != digest:
        return [
            Problem(
                seq,
                "anchor",
                f"row {seq} does not carry the hash {digest[:12]}... published or anchored for it: rows up "
                "to it were altered and the chain re-hashed",
            )
        ]
    return []
