"""`aiprime agents list|run|runs|show|resume`: the declared agents and their runs."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from aiprime.cli.render import console
from aiprime.settings import Settings

app = typer.Typer(
    no_args_is_help=True, help="Agents whose tools are the platform's APIs, behind the gateway."
)
TOKEN = typer.Option(
    ...,
    envvar="AIPRIME_TOKEN",
    help="Your gateway access token (POST /oauth/token) or API key: every tool call is made as you.",
)
GATEWAY = typer.Option(None, help="The gateway's URL (default: the running serving stack's gateway).")
NO_LLM = typer.Option(False, "--no-llm", help="Answer with the tool results as they are, without the LLM.")


@app.command("list")
def list_agents() -> None:
    """The declared agents: version, tools, policy and limits."""
    from aiprime.agents.declared import AGENTS

    table = Table(title="Agents (aiprime/agents/declared.py)")
    for column in ("agent", "version", "tools", "policy", "limits"):
        table.add_column(column, overflow="fold")
    for agent in AGENTS.values():
        limits = agent.limits
        budget = f"{limits.max_steps} steps, {limits.max_time_s:g} s, {limits.max_tokens} tokens"
        table.add_row(agent.name, str(agent.version), ", ".join(agent.tools), agent.policy, budget)
    console.print(table)


@app.command()
def run(
    task: str = typer.Argument(..., help="What to do, e.g. 'what is \"12 * 7\"?' or 'define \"dog\"'."),
    agent: str = typer.Option("assistant", help="A declared agent (`aiprime agents list`)."),
    token: str = TOKEN,
    gateway: str = GATEWAY,
    no_llm: bool = NO_LLM,
) -> None:
    """Run an agent on TASK until it answers, fails, or waits for a person (then `agents resume`)."""
    from aiprime.agents.declared import agent_named
    from aiprime.agents.graph import start_run

    declared = agent_named(agent)
    caller, runtime = _caller_and_runtime(token, gateway, no_llm)
    _print_run(start_run(declared, task, caller, runtime))


@app.command()
def resume(
    run_id: str = typer.Argument(..., help="A waiting run (`aiprime agents runs`)."),
    decision: str = typer.Argument(..., help="approve | refuse (a state change), resume | cancel (a limit)."),
    token: str = TOKEN,
    gateway: str = GATEWAY,
    no_llm: bool = NO_LLM,
) -> None:
    """Continue a waiting run from its checkpoint with your decision."""
    from aiprime.agents.declared import agent_named
    from aiprime.agents.graph import resume_run

    caller, runtime = _caller_and_runtime(token, gateway, no_llm)
    agent = agent_named(runtime.store.get(run_id).agent)
    _print_run(resume_run(agent, run_id, decision, caller, runtime))


@app.command()
def runs(limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first.")) -> None:
    """The latest runs with their status."""
    table = Table(title="Agent runs")
    table.add_column("run", no_wrap=True, min_width=32)  # whole: it is what `show` and `resume` take
    for column in ("agent", "principal", "status", "plan", "task", "started"):
        table.add_column(column, overflow="fold")
    for r in _store().list(limit):
        started = f"{r.created_at:%Y-%m-%d %H:%M:%S}"
        table.add_row(
            r.id, f"{r.agent} v{r.agent_version}", r.principal, r.status, "+".join(r.plan), r.task, started
        )
    console.print(table)


@app.command()
def show(run_id: str = typer.Argument(..., help="A run id (`aiprime agents runs`).")) -> None:
    """One run with each step: tool, input, status, output, the gateway's request id."""
    _print_run(_store().get(run_id))


def _store():
    from aiprime.agents.runs import RunStore
    from aiprime.db.engine import open_app_db

    return RunStore(open_app_db(Settings()))


def _caller_and_runtime(token: str, gateway: str | None, no_llm: bool):
    from aiprime.agents.graph import Caller, Runtime
    from aiprime.agents.tools import token_subject
    from aiprime.db.urls import app_db_url

    settings = Settings()
    generator = None
    if not no_llm:
        from aiprime.rag.generators import generator_from_settings

        generator = generator_from_settings(settings)
    caller = Caller(gateway or _running_gateway(settings), token, token_subject(token))
    return caller, Runtime(_store(), app_db_url(settings), generator)


def _running_gateway(settings: Settings) -> str:
    from aiprime.errors import ServiceUnavailable
    from aiprime.serving import launcher

    stack = launcher.running(settings)
    if stack is None or stack.gateway_url is None:
        raise ServiceUnavailable(
            "No gateway runs in front of a serving stack; pass --gateway URL, or start one with "
            "`aiprime serve --rag --gateway --detach`."
        )
    return stack.gateway_url


def _print_run(r) -> None:
    console.print(
        f"run {r.id}  {r.agent} v{r.agent_version}  as {r.principal}  [bold]{r.status}[/]"
        + (f"  ({r.reason})" if r.reason else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"task: {r.task}\nplan: {'+'.join(r.plan) or '-'} (propensity {r.propensity}, chosen by {r.policy})",
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    for column in ("#", "tool", "input", "status", "output", "request id", "ms"):
        table.add_column(column, overflow="fold")
    for s in r.steps:
        output = json.dumps(s.output, ensure_ascii=False)[:300] if s.output is not None else s.message
        table.add_row(
            str(s.index), s.tool, s.input[:200], s.status, output, s.request_id or "", f"{s.duration_ms:.0f}"
        )
    if r.steps:
        console.print(table)
    if r.status == "waiting":
        console.print(f"waiting: `aiprime agents resume {r.id} DECISION`", highlight=False)
    if r.answer:
        console.print(f"answer: {r.answer}", highlight=False, soft_wrap=True)
