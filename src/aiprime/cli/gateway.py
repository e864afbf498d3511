"""`aiprime gateway`: the authenticated front door in front of the InferenceGraph router."""

from __future__ import annotations

from pathlib import Path

import typer

from aiprime.cli.render import console
from aiprime.errors import ServiceUnavailable
from aiprime.settings import Settings


def gateway(
    upstream: str = typer.Option(
        None, help="The router's URL for /v1/predict (default: AIPRIME_GATEWAY_PREDICT_URL)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 only inside a container."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to bind."),
    trace_file: Path = typer.Option(None, help="Append the gateway's spans here as JSON lines."),
    ask_url: str = typer.Option(None, help="The RAG graph for /v1/ask (default: AIPRIME_GATEWAY_ASK_URL)."),
    explain_url: str = typer.Option(
        None, help="The explainer for /v1/explain (default: AIPRIME_GATEWAY_EXPLAIN_URL)."
    ),
    search_url: str = typer.Option(
        None, help="The retriever for /v1/search (default: AIPRIME_GATEWAY_SEARCH_URL)."
    ),
) -> None:
    """Serve the gateway (OAuth2 tokens, RBAC, audit log, limits) until Ctrl-C."""
    from aiprime.agents import api as agents_api
    from aiprime.gateway import GatewaySettings
    from aiprime.gateway.app import serve_gateway  # FastAPI and the security stack load on use
    from aiprime.services import stack

    settings = Settings()
    given = {"ask_url": ask_url, "explain_url": explain_url, "search_url": search_url}
    gateway_settings = GatewaySettings().model_copy(update={k: v for k, v in given.items() if v})
    stack.prepare_app_db(settings)  # users, roles and the audit log live in PostgreSQL: start and migrate it
    serve_gateway(
        settings, upstream, host=host, port=port, gateway=gateway_settings, trace_file=trace_file,
        extensions=[agents_api.install],  # the agents' runs and decisions (/v1/agents)
    )  # fmt: skip


def console_login() -> None:
    """Print the console's address behind the running stack's gateway and a fresh login link for the local
    admin (a link stops working after AIPRIME_GATEWAY_TOKEN_TTL_S; run this again for a new one)."""
    from aiprime.serving import launcher

    settings = Settings()
    stack = launcher.running(settings)
    if stack is None or stack.gateway_url is None:
        raise ServiceUnavailable(
            "No gateway runs in front of a serving stack; `make run` starts one, or "
            "`aiprime serve --rag --gateway --detach`."
        )
    print_console_login(settings, stack.gateway_url)


def print_console_login(settings: Settings, gateway_url: str) -> None:
    """The console's address behind the gateway at `gateway_url`, and a login link for the local admin."""
    from aiprime.db.engine import open_app_db
    from aiprime.gateway.console.access import console_login as login_for  # FastAPI and security: on use

    login = login_for(settings, open_app_db(settings), base_url=gateway_url)
    console.print(
        f"Console: {login.url}\nOne-time login for the local {login.user}, valid "
        f"{login.expires_in_s // 60} min (`aiprime console` prints a new one): {login.login_url}",
        highlight=False,
        soft_wrap=True,  # one line, however wide the terminal: a wrapped link would not open
    )
