"""The `aiprime` command: thin typer commands that call the library and render with rich."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from aiprime.cli import agents, audit, backup, data, gateway, platform, rag, roles, serve, services, users
from aiprime.cli import edge as edge_cli
from aiprime.cli import search as search_cli
from aiprime.cli.lineage import lineage
from aiprime.cli.logs import logs
from aiprime.cli.render import err_console
from aiprime.cli.trace import trace
from aiprime.cli.train import train
from aiprime.errors import AIPrimeError


class _OneLineErrors(TyperGroup):
    """Print an AIPrimeError as one line with its fix (no stack trace) and exit with status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AIPrimeError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from e


app = typer.Typer(
    cls=_OneLineErrors,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="AI Prime: a mixture of experts trained by Kubeflow Pipelines and served by KServe.",
)
app.add_typer(services.app, name="services")
app.add_typer(data.app, name="data")
app.add_typer(rag.app, name="rag")
app.command("run")(platform.run)
app.command("ui")(platform.ui)
app.command("train")(train)
app.add_typer(users.app, name="users")
app.add_typer(users.keys_app, name="keys")
app.add_typer(roles.app, name="roles")
app.add_typer(audit.app, name="audit")
app.add_typer(backup.app, name="backup")
app.add_typer(serve.app, name="serve")
app.add_typer(agents.app, name="agents")
app.add_typer(edge_cli.app, name="edge")
app.command("router")(serve.router)
app.command("ask")(serve.ask)
app.command("gateway")(gateway.gateway)
app.command("console")(gateway.console_login)
app.command("logs")(logs)
app.command("lineage")(lineage)
app.command("trace")(trace)
app.command("search")(search_cli.search)
