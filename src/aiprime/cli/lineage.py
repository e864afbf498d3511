"""`aiprime lineage REQUEST_ID | MODEL@VERSION`: the W3C PROV document of an answer or a model version."""

from __future__ import annotations

from pathlib import Path

import typer

from aiprime.cli.render import console, err_console
from aiprime.db.engine import open_app_db
from aiprime.provenance import document, export
from aiprime.registry.mlflow_registry import registered_name
from aiprime.settings import Settings
from aiprime.versioning import find_repo_root

INCOMPLETE = 3  # the exit status when the document was written but some links are missing


def lineage(
    target: str = typer.Argument(
        ...,
        help="A request id (the gateway's `x-request-id`) or MODEL@VERSION, e.g. gate@3 or aiprime-gate@3.",
    ),
    fmt: str = typer.Option(
        "prov-json", "--format", help=f"One of {', '.join(export.FORMATS)} (svg needs Graphviz's `dot`)."
    ),
    out: Path = typer.Option(None, help="Write the document to this file instead of stdout."),
) -> None:
    """Where a model version or an answer came from, from stored facts only, as a W3C PROV document.

    Links that no stored fact resolves are listed on stderr, and the command then exits with status 3
    (the document is still written); 0 means the whole chain resolved, 1 an error (unknown id or version).
    """
    export.check_format(fmt)
    result = build(Settings(), target)
    text = export.serialize(result.document, fmt)
    if out is None:
        console.out(text, highlight=False)
    else:
        out.write_text(text)
    for missing in result.missing:
        err_console.print(f"[yellow]missing:[/] {missing.link}: {missing.reason}", highlight=False)
    if result.missing:
        raise typer.Exit(INCOMPLETE)


def build(settings: Settings, target: str) -> document.Lineage:
    """The lineage of `target`: MODEL@VERSION when it has an `@`, else a request id."""
    where = document.Sources.of(settings, find_repo_root(Path.cwd()))
    if "@" in target:
        model, _, version = target.partition("@")
        name = model if model.startswith("aiprime-") else registered_name(model)
        return document.model_lineage(where, name, version)
    return document.request_lineage(where, open_app_db(settings), target)
