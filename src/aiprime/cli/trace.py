"""`aiprime trace REQUEST_ID`: one request's spans across every process, as a tree with timings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aiprime.cli.render import console
from aiprime.observability.traces import Trace, TraceStores, find_traces, tree
from aiprime.registry.mlflow_plugins import skip_unwanted_header_providers
from aiprime.settings import Settings


def trace(
    request: Annotated[
        str,
        typer.Argument(help="A request's X-Request-Id, or a trace id (32 hex digits, or MLflow's tr-<hex>)."),
    ],
    spans: Annotated[
        list[Path] | None,
        typer.Option(help="Spans files or folders to read (default: <AIPRIME_HOME>/serving/traces)."),
    ] = None,
    mlflow: Annotated[
        str | None, typer.Option(help="The MLflow server holding the traces (default: AIPRIME_MLFLOW_*).")
    ] = None,
) -> None:
    """Show a request's trace: every span with its process, start offset and duration.

    It is read from MLflow's trace store when MLflow answers, else from the spans files that `aiprime serve
    --trace` writes. An id no trace carries is an error (exit status 1) that says where it looked.
    """
    from aiprime.serving.launcher import state_dir

    settings = Settings()
    files = spans or [state_dir(settings) / "traces"]
    stores = TraceStores(mlflow or settings.mlflow_url, settings.traces_experiment, files, settings.log_dir)
    skip_unwanted_header_providers()  # MLflow may be asked: without Feast's import
    for found in find_traces(request, stores):
        console.print(_table(found), highlight=False)


def _table(found: Trace) -> Table:
    services = {s.service for s in found.spans}
    table = Table(title=f"trace {found.trace_id}", title_justify="left")
    table.caption = f"{len(found.spans)} spans in {len(services)} processes, from {found.source}"
    for column, justify in (("span", "left"), ("process", "left"), ("start", "right"), ("took", "right")):
        table.add_column(column, justify=justify, overflow="fold")
    origin = min(s.start_ns for s in found.spans)
    for depth, span in tree(found.spans):
        failed = " [red](error)[/]" if span.status == "ERROR" else ""
        table.add_row(f"{'  ' * depth}{escape(span.name)}{failed}", escape(span.service),
                      f"+{(span.start_ns - origin) / 1e6:.1f} ms", f"{span.duration_ms:.1f} ms")  # fmt: skip
    return table
