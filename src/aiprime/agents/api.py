"""The agents' routes on the gateway: the declared agents, runs with their steps, a person's decision on a
waiting run (approve or refuse a state change, resume or cancel at a limit), and the python tool's sandbox.

`install(app)` adds them to a gateway app (`aiprime gateway` does). `POST /v1/agents/python` needs the
permission `python`, the others `console`; a principal sees its own runs, an admin every run. A decision resumes the run from its checkpoint in this
process, and its tool calls go back through the gateway over HTTP with the deciding person's own token, so
approving `train` trains only if that person may train, and the audit log names them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from aiprime.agents import graph
from aiprime.agents.declared import AGENTS, agent_named
from aiprime.agents.policy import curve_path
from aiprime.agents.runs import Run, RunStore
from aiprime.agents.sandbox import MAX_CODE_BYTES, SandboxLimits, run_python
from aiprime.errors import DataCorrupt, NotFound
from aiprime.gateway.auth import Caller
from aiprime.gateway.routes import ERRORS, require

PERMISSION = "console"
User = Annotated[Caller, Depends(require(PERMISSION))]
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A run id (`aiprime agents runs`).")]
router = APIRouter(prefix="/v1/agents", responses=ERRORS, tags=["agents"])


class AgentOut(BaseModel):
    """A declared agent."""

    name: str
    version: int
    description: str
    tools: list[str]
    policy: str
    limits: dict[str, float]


class StepOut(BaseModel):
    """One tool call of a run."""

    index: int
    tool: str
    input: str
    status: str = Field(description="ok, forbidden, timeout, too_large, refused, not_allowed, ...")
    message: str
    output: object | None
    request_id: str | None = Field(description="The gateway's x-request-id of the call: its audit row.")
    trace_id: str | None
    duration_ms: float
    reward: float | None


class RunOut(BaseModel):
    """A run; `steps` only when one run is read."""

    id: str
    agent: str
    agent_version: int
    principal: str
    task: str
    status: str = Field(description="running, waiting, done, failed or cancelled.")
    reason: str | None = Field(description="Why it waits or stopped; `approval: ...` waits for a decision.")
    plan: list[str]
    policy: str | None = Field(description="What chose the plan: a policy URI, or `rules` (and why).")
    propensity: float | None
    answer: str | None
    created_at: str
    steps: list[StepOut] = []


class PythonRequest(BaseModel):
    """Code for the sandbox."""

    model_config = {"extra": "forbid"}
    code: str = Field(
        min_length=1, max_length=MAX_CODE_BYTES, description="A Python program (stdin of python3)."
    )
    timeout_s: float = Field(
        10.0, gt=0, le=60, description="Wall-clock limit; the sandbox is killed past it."
    )
    output_bytes: int = Field(
        SandboxLimits.output_bytes,
        ge=1024,
        le=SandboxLimits.output_bytes,
        description="stdout and stderr are each cut here (status output_limit): a caller whose answers are "
        "bounded asks for less, so the sandbox's status still reaches it.",
    )


class PythonResult(BaseModel):
    """How the program ended."""

    status: str = Field(description="ok, error, timeout, cpu_limit, output_limit or killed.")
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float


class Decision(BaseModel):
    """A person's decision on a waiting run."""

    model_config = {"extra": "forbid"}
    decision: Literal["approve", "refuse", "resume", "cancel"]


@router.get("", summary="The declared agents")
async def agents(_: User) -> list[AgentOut]:
    """Every declared agent with its version, tools, policy and limits."""
    return [
        AgentOut(**a.__dict__ | {"tools": list(a.tools), "limits": a.limits.__dict__})
        for a in AGENTS.values()
    ]


class CurvePoint(BaseModel):
    """The policy after some simulated interactions."""

    interactions: int
    mean_reward: float = Field(description="Mean reward of the plans it chose so far.")
    cumulative_regret: float = Field(description="Reward lost so far against the best plan of each task.")
    test_success: float = Field(description="Its greedy choice's success on held-out templates.")


class PolicyCurve(BaseModel):
    """The tool policy's learning curve from its latest retraining (the Dagster asset `agent_policy`)."""

    learner: str
    oracle: float = Field(description="Held-out success of the best plan per task.")
    curve: list[CurvePoint]


@router.get("/policy", summary="The tool policy's learning curve")
async def policy_curve(request: Request, _: User) -> PolicyCurve:
    """Reward and regret over the interactions of the latest retraining; 404 before the first one."""
    path = curve_path(request.app.state.console_settings.home)
    if not path.is_file():
        raise NotFound(f"No learning curve at {path} yet; retrain the policy with the Dagster job `agents`.")
    try:
        return PolicyCurve.model_validate_json(path.read_bytes())
    except ValueError as e:
        raise DataCorrupt(f"{path} is not a learning curve ({e}); retrain the policy (job `agents`).") from e


@router.get("/runs", summary="The latest agent runs")
async def runs(request: Request, caller: User, limit: int = 50) -> list[RunOut]:
    """The caller's latest runs, newest first (an admin's: everyone's)."""
    principal = None if "admin" in caller.permissions else caller.name
    found = await run_in_threadpool(_store(request).list, min(max(limit, 1), 500), principal)
    return [_out(r) for r in found]


@router.get("/runs/{run_id}", summary="One agent run with its steps")
async def run(request: Request, caller: User, run_id: RunId) -> RunOut:
    """The run with each step; 404 for a run that is not the caller's (unless admin)."""
    return _out(await run_in_threadpool(_visible_run, request, caller, run_id))


@router.post("/runs/{run_id}/decision", summary="Decide on a waiting run")
async def decide(request: Request, caller: User, run_id: RunId, body: Decision) -> RunOut:
    """Resume the run from its checkpoint with the decision; its tool calls are made with your token."""
    found = await run_in_threadpool(_visible_run, request, caller, run_id)
    token = request.headers["authorization"].partition(" ")[2]
    who = graph.Caller(str(request.base_url).rstrip("/"), token, caller.name)
    store = _store(request)
    db_url = store.engine.url.render_as_string(hide_password=False)
    runtime = graph.Runtime(store, db_url, read_files=False)  # the gateway's host files are not the caller's
    decided = await run_in_threadpool(
        graph.resume_run, agent_named(found.agent), run_id, body.decision, who, runtime
    )
    return _out(decided)


@router.post("/python", summary="Run Python in the sandbox")
async def python(body: PythonRequest, _: Annotated[Caller, Depends(require("python"))]) -> PythonResult:
    """Run the program under bubblewrap (no network, read-only system, limits): the agents' python tool,
    behind the gateway so that each run is authorized and audited like any tool call."""
    limits = SandboxLimits(wall_s=body.timeout_s, output_bytes=body.output_bytes)
    result = await run_in_threadpool(run_python, body.code, limits)
    return PythonResult(**result.__dict__)


def install(app: FastAPI) -> None:
    """Add the agents' routes to a gateway app (before it serves)."""
    app.include_router(router)


def _store(request: Request) -> RunStore:
    return RunStore(request.app.state.runtime.engine)


def _visible_run(request: Request, caller: Caller, run_id: str) -> Run:
    found = _store(request).get(run_id)
    if found.principal != caller.name and "admin" not in caller.permissions:
        raise NotFound(f"No agent run {run_id!r} of yours; GET /v1/agents/runs lists them.")
    return found


def _out(r: Run) -> RunOut:
    steps = [StepOut(**s.__dict__) for s in r.steps]
    fields = r.__dict__ | {"plan": list(r.plan), "created_at": r.created_at.isoformat(), "steps": steps}
    return RunOut(**{k: v for k, v in fields.items() if k != "updated_at"})
