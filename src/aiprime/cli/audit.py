"""`aiprime audit verify|tail`: check the audit log's hash chain and read its newest rows."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from aiprime.cli.render import console, err_console
from aiprime.cli.users import engine
from aiprime.errors import AuditChainBroken, InvalidInput
from aiprime.gateway.config import GatewaySettings, audit_heads
from aiprime.security import audit, auditheads
from aiprime.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Verify and read the gateway's audit log.")


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidInput(
            f"--anchor {value!r} is not SEQ:HASH; use the `head` line an earlier verify printed."
        )
    return int(seq), digest


@app.command()
def verify(
    anchor: str = typer.Option(
        None,
        help="SEQ:HASH of a head printed by an earlier verify, checked instead of the last published head "
        "(nothing is published then).",
    ),
    heads: str = typer.Option(
        None,
        help="Where heads are published: a folder or s3://bucket/prefix; default AIPRIME_GATEWAY_AUDIT_HEADS, "
        "else <AIPRIME_HOME>/audit-heads.",
    ),
) -> None:
    """Walk the hash chain against the last published head; name every altered or deleted row (exit 1).

    A chain that verifies is published as the new head, so the next verify also finds rows deleted from the
    end, or the chain re-hashed, since now.
    """
    eng = engine()
    store = auditheads.store_for(heads or audit_heads(Settings(), GatewaySettings()), eng.url.database)
    if anchor is not None:
        report, published = audit.verify(eng, _anchor(anchor)), None
    else:
        report, published = auditheads.verify_published(eng, store)
    for problem in report.problems:
        err_console.print(f"[red]row {problem.seq}[/]: {problem.message}", highlight=False)
    if not report.ok:
        raise AuditChainBroken(
            f"The audit log's hash chain is broken in {len(report.problems)} place(s), first at "
            f"row {report.problems[0].seq}; keep a copy of the database for investigation."
        )
    console.print(
        f"{report.rows} rows, chain intact; head {report.head_seq}:{report.head_hash}",
        highlight=False,
        soft_wrap=True,
    )
    _publish_what_was_checked(anchor, published, store, eng)


def _publish_what_was_checked(
    anchor: str | None, published: auditheads.Head | None, store: auditheads.HeadStore, eng: Engine
) -> None:
    """Say what the chain was checked against; publish its head unless an anchor replaced the store's."""
    if anchor is not None:
        console.print(f"checked against the anchor {anchor[:20]}...", highlight=False)
        return
    if published is None:
        console.print(
            f"no head was published in {store.where} yet: rows deleted from the end were not checked"
        )
    else:
        console.print(f"checked against the head published at {published.at} (row {published.seq})")
    if new := auditheads.publish_verified(eng, store):
        console.print(f"published head {new.seq} to {store.where}", highlight=False, soft_wrap=True)


@app.command()
def tail(limit: int = typer.Option(20, min=1, max=1000, help="How many of the newest rows.")) -> None:
    """Show the newest rows of the audit log."""
    eng = engine()
    with eng.connect() as conn:
        last = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM gateway.audit_log").scalar()
        rows = audit.read(conn, after=max(0, last - limit), limit=limit)
    table = Table(title="Audit log")
    for column in ("seq", "at", "actor", "action", "resource", "decision", "status", "request id"):
        table.add_column(column, overflow="fold")
    for r in rows:
        e = r.entry
        table.add_row(
            str(r.seq),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.action,
            e.resource,
            e.decision,
            str(e.status or "-"),
            e.request_id or "-",
        )
    console.print(table)
