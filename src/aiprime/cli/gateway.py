"""`aiprime gateway`: the authenticated front door in front of the InferenceGraph router."""

from __future__ import annotations

from pathlib import Path

import typer

from aiprime.settings import Settings


def gateway(
    upstream: str = typer.Option(
        None, help="The router's URL for /v1/predict (default: AIPRIME_GATEWAY_PREDICT_URL)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 only inside a container."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to bind."),
    trace_file: Path = typer.Option(None, help="Append the gateway's spans here as JSON lines."),
) -> None:
    """Serve the gateway (OAuth2 tokens, RBAC, audit log, limits) until Ctrl-C."""
    from aiprime.agents import api as agents_api
    from aiprime.gateway.app import serve_gateway  # FastAPI and the security stack load on use
    from aiprime.services import stack

    settings = Settings()
    stack.prepare_app_db(settings)  # users, roles and the audit log live in PostgreSQL: start and migrate it
    serve_gateway(
        settings, upstream, host=host, port=port, trace_file=trace_file,
        extensions=[agents_api.install],  # the agents' runs and decisions (/v1/agents)
    )  # fmt: skip
