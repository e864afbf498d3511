"""`aiprime roles list|show`: the gateway's roles, their hierarchy, and separation-of-duty constraints."""

from __future__ import annotations

import typer
from rich.table import Table

from aiprime.cli.render import console
from aiprime.cli.users import engine
from aiprime.errors import NotFound
from aiprime.security import rbac

app = typer.Typer(no_args_is_help=True, help="Inspect the gateway's roles (seeded by migration 0003).")


@app.command("list")
def list_() -> None:
    """Show every role, what it inherits, and its effective permissions."""
    with engine().connect() as conn:
        roles, constraints = rbac.list_roles(conn), rbac.ssd_constraints(conn)
    table = Table(title="Roles")
    for column in ("role", "inherits", "permissions (effective)", "description"):
        table.add_column(column, overflow="fold")
    for r in roles:
        table.add_row(r.name, ", ".join(r.juniors) or "-", ", ".join(r.effective_permissions), r.description)
    console.print(table)
    for c in constraints:
        console.print(
            f"separation of duty [bold]{c.name}[/]: nobody holds {c.cardinality} or more of "
            f"{', '.join(c.roles)} ({c.description})"
        )


@app.command()
def show(role: str) -> None:
    """Show one role: its own and inherited permissions, its constraints, and who holds it."""
    with engine().connect() as conn:
        found = next((r for r in rbac.list_roles(conn) if r.name == role), None)
        if found is None:
            raise NotFound(f"No role named {role!r}; `aiprime roles list` shows them.")
        constraints = [c for c in rbac.ssd_constraints(conn) if role in c.roles]
        holders = [p.name for p in rbac.list_principals(conn) if role in p.roles]
    console.print(f"[bold]{found.name}[/]: {found.description}")
    console.print(f"  own permissions:       {', '.join(found.permissions) or '-'}")
    console.print(f"  inherits from:         {', '.join(found.juniors) or '-'}")
    console.print(f"  effective permissions: {', '.join(found.effective_permissions) or '-'}")
    for c in constraints:
        others = ", ".join(r for r in c.roles if r != role)
        console.print(f"  separation of duty:    {c.name} (not with {others})")
    console.print(f"  assigned to:           {', '.join(holders) or 'nobody'}")
