"""`aiprime logs`: the JSON log lines of every local process, merged by time and filtered."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape

from aiprime.cli.render import console
from aiprime.observability.logs import follow_logs, parse_since, read_logs
from aiprime.settings import Settings

_LEVEL_STYLE = {"warning": "yellow", "error": "bold red", "critical": "bold red"}


def logs(
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Only this service (repeatable), e.g. router.")
    ] = None,
    request: Annotated[
        str | None, typer.Option("--request", help="Only the lines of this request id.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only lines this recent: 30s, 10m, 2h, 1d.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON lines as they are.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print new lines as they come (Ctrl-C).")
    ] = False,
) -> None:
    """Show the logs of the gateway, the router and the model servers (<AIPRIME_HOME>/logs/*.jsonl)."""
    start = datetime.now(UTC) - parse_since(since) if since else None
    log_dir = Settings().log_dir
    _show(read_logs(log_dir, service, request, start), as_json)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            _show(follow_logs(log_dir, service, request), as_json)


def _show(lines: Iterable[dict[str, Any]], as_json: bool) -> None:
    for line in lines:
        if as_json:
            print(json.dumps(line), flush=True)
        else:
            console.print(_rendered(line), highlight=False, soft_wrap=True)


def _rendered(line: dict[str, Any]) -> str:
    level = line.get("level", "")
    style = _LEVEL_STYLE.get(level, "dim")
    ids = " ".join(f"{k}={line[k]}" for k in ("request_id", "trace_id") if line.get(k))
    text = f"{line['ts']} [bold]{escape(line.get('service', '?'))}[/] [{style}]{level}[/] {escape(line.get('message', ''))}"
    return f"{text} [dim]{ids}[/]" if ids else text
