"""`aiprime users add|list|remove|grant|revoke` and `aiprime keys create|revoke`: the gateway's principals.

Every change is written to the audit log with the actor `cli:<os user>`. The commands talk to the running
PostgreSQL (`aiprime services up` starts it); they never start it themselves.
"""

from __future__ import annotations

import getpass

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from aiprime.cli.render import console
from aiprime.db.engine import open_app_db
from aiprime.security import rbac
from aiprime.security.admin import Actor, Admin
from aiprime.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Manage the gateway's users and service accounts (RBAC).")
keys_app = typer.Typer(no_args_is_help=True, help="Create and revoke API keys of service accounts.")


def engine() -> Engine:
    """An engine on the running `aiprime` database."""
    return open_app_db(Settings())


def actor() -> Actor:
    """The audit log's actor for this command."""
    return Actor(f"cli:{getpass.getuser()}")


@app.command()
def add(
    name: str = typer.Argument(..., help="The principal's name (for OIDC subjects: their `sub` claim)."),
    kind: str = typer.Option("user", help="user (password login), service (API keys) or external (OIDC)."),
    password: bool = typer.Option(True, help="Prompt for a password (users only)."),
) -> None:
    """Create a principal. It holds no role until one is granted (least privilege)."""
    secret = None
    if kind == "user" and password:
        secret = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    principal = Admin(engine()).add_principal(actor(), name, kind, secret)
    console.print(
        f"created {principal.kind} [bold]{principal.name}[/] with no role; "
        f"grant one with `aiprime users grant {principal.name} ROLE`"
    )


@app.command("list")
def list_() -> None:
    """Show every principal with its assigned roles."""
    with engine().connect() as conn:
        principals = rbac.list_principals(conn)
    table = Table(title="Principals")
    for column in ("name", "kind", "roles", "created", "by"):
        table.add_column(column, overflow="fold")
    for p in principals:
        table.add_row(
            p.name, p.kind, ", ".join(p.roles) or "-", f"{p.created_at:%Y-%m-%d %H:%M}", p.created_by
        )
    console.print(table)


@app.command()
def remove(name: str, yes: bool = typer.Option(False, "--yes", help="Do not ask to confirm.")) -> None:
    """Remove a principal, its role assignments and its API keys."""
    if not yes:
        typer.confirm(f"remove {name} and its API keys?", abort=True)
    Admin(engine()).remove_principal(actor(), name)
    console.print(f"removed {name}")


@app.command()
def grant(name: str, role: str) -> None:
    """Assign a role; refused if it breaks a separation-of-duty constraint."""
    principal = Admin(engine()).grant(actor(), name, role)
    console.print(f"{principal.name}: {', '.join(principal.roles)}")


@app.command()
def revoke(name: str, role: str) -> None:
    """Remove a role assignment."""
    principal = Admin(engine()).revoke(actor(), name, role)
    console.print(f"{principal.name}: {', '.join(principal.roles) or 'no role'}")


@keys_app.command("create")
def create_key(
    name: str = typer.Argument(..., help="A service account (`aiprime users add NAME --kind service`)."),
) -> None:
    """Create an API key; it is printed this once (only its hash is stored)."""
    key = Admin(engine()).create_key(actor(), name)
    console.print(f"API key for {name} (id {key.key_id}); store it now, it is not shown again:")
    typer.echo(key.token)


@keys_app.command("revoke")
def revoke_key(key_id: str = typer.Argument(..., help="The 12 hex digits after `aip_`.")) -> None:
    """Revoke an API key."""
    owner = Admin(engine()).revoke_key(actor(), key_id)
    console.print(f"revoked key {key_id} of {owner}")
