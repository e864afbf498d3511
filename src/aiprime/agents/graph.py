"""An agent run as a LangGraph state graph: plan, then one tool call per step, then the answer.

    START -> plan -> act (one tool per pass, back to act while the plan has steps) -> answer -> END

`plan` asks the agent's policy for a plan (tools and propensity). `act` calls the plan's next tool through
the gateway as the run's user (`aiprime.agents.tools`), inside a trace span, and records the step. Before a
call it checks the run's limits (steps, time, tokens): past one, the run waits (`interrupt`) with a reason
until a person resumes it with a fresh budget or cancels it; a tool that changes state (train, deploy) waits
for a person's approval the same way. The state is checkpointed in PostgreSQL after every node
(`aiprime.agents.runs.checkpointer`), so a waiting run resumes in another process. `answer` has the LLM
phrase the final answer from the tool results only (it never chooses tools); without one, the results are
the answer. The user's token is never part of the state: the tools hold it for this process only.
"""

from __future__ import annotations

import functools
import json
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import httpx
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt
from opentelemetry import trace

from aiprime.agents import plans, rules
from aiprime.agents.declared import Agent
from aiprime.agents.plans import Plan
from aiprime.agents.runs import Run, RunStore, Step, checkpointer, new_run_id
from aiprime.agents.tools import GatewayTools, ToolResult, tool_named
from aiprime.errors import InvalidInput, ModelNotReady, NotFound, ServiceUnavailable
from aiprime.rag.generators import Generator
from aiprime.settings import Settings

ANSWER_PROMPT = (
    "You answer a task from tool results only. Quote the results; if they do not answer the task, say so."
)
MAX_ANSWER_TOKENS = 256
Policy = Callable[[str], Plan]  # a request's text -> the plan, with its propensity
APPROVE, REFUSE, RESUME, CANCEL = "approve", "refuse", "resume", "cancel"


class RunState(TypedDict, total=False):
    """What the checkpoint holds of a run (never a credential)."""

    task: str
    plan: list[str]
    propensity: float
    position: int  # the next step's index into plan
    text: str  # the request the next step reads (plans.chained_text passes answers on)
    budget_steps: int  # steps taken in the current budget
    budget_started: float  # time.time() when the current budget began
    tokens: int  # estimated tokens of tool output in the current budget
    results: Annotated[list[dict[str, Any]], operator.add]
    status: str
    reason: str | None
    answer: str


@dataclass
class AgentGraph:
    """Builds the graph of one run; the tools hold the user's token for this process only."""

    agent: Agent
    run_id: str
    tools: GatewayTools
    store: RunStore
    policy: Callable[[], tuple[Policy, str]]  # resolved when a plan is chosen: (the policy, what it is)
    generator: Generator | None = None
    tracer: trace.Tracer | None = None

    def compile(self, checkpointer: Any) -> CompiledStateGraph:
        """The compiled graph, checkpointing into `checkpointer`."""
        graph = StateGraph(RunState)
        graph.add_node("plan", self.plan)
        graph.add_node("act", self.act)
        graph.add_node("answer", self.answer)
        graph.add_edge(START, "plan")
        graph.add_edge("plan", "act")
        graph.add_conditional_edges("act", self.after_act, ["act", "answer", END])
        graph.add_edge("answer", END)
        return graph.compile(checkpointer=checkpointer)

    def plan(self, state: RunState) -> dict[str, Any]:
        """Ask the policy for the plan; a request about a media file gets its media tool's (plans.media_plan)."""
        media = plans.media_plan(state["task"])
        if media:
            chosen, name = Plan(media, 1.0), f"media: {media[0]} reads the file"
        else:
            policy, name = self.policy()
            chosen = policy(state["task"])
        self.store.update(self.run_id, plan=list(chosen.tools), policy=name, propensity=chosen.propensity)
        return {"plan": list(chosen.tools), "propensity": chosen.propensity, "position": 0,
                "text": state["task"], "tokens": 0, "status": "running"} | _fresh_budget()  # fmt: skip

    def act(self, state: RunState) -> dict[str, Any]:
        """Take the plan's next step, once the limits and (for a state change) a person allow it."""
        budget = self._within_limits(state)
        if budget is None:
            return {"status": "cancelled", "reason": "cancelled by a person at a limit"}
        tool = state["plan"][state["position"]]
        result = self._approved_call(tool, state, budget)
        if result is None:
            return {"status": "cancelled", "reason": f"cancelled by a person before {tool}"}
        return self._advance(state, budget, result)

    def after_act(self, state: RunState) -> str:
        """Cancelled: end; steps left: act again; else the answer."""
        if state.get("status") == "cancelled":
            return END
        return "act" if state["position"] < len(state["plan"]) else "answer"

    def answer(self, state: RunState) -> dict[str, Any]:
        """Phrase the answer from the results; done when a step succeeded, else failed with each status."""
        results = state.get("results", [])
        succeeded = [r for r in results if r["status"] == "ok"]
        if not succeeded:
            reason = "no step succeeded: " + "; ".join(
                f"{r['tool']} {r['status']}: {r['message']}" for r in results
            )
            return {"status": "failed", "reason": reason[:2000], "answer": ""}
        limit = self.agent.limits.max_output_bytes
        return {
            "status": "done",
            "reason": None,
            "answer": self._phrase(state["task"], succeeded, state["tokens"])[:limit],
        }

    def _within_limits(self, state: RunState) -> dict[str, Any] | None:
        """The budget to go on with: the current one, or after a limit a fresh one if a person resumes
        (None if they cancel)."""
        reason = self._over_limit(state)
        if reason is None:
            return {k: state[k] for k in ("budget_steps", "budget_started", "tokens")}
        self.store.update(self.run_id, status="waiting", reason=reason)
        decision = interrupt({"kind": "limit", "reason": reason, "choices": [RESUME, CANCEL]})
        if decision == CANCEL:
            return None
        self.store.update(self.run_id, status="running", reason=None)
        return _fresh_budget() | {"tokens": 0}

    def _over_limit(self, state: RunState) -> str | None:
        limits = self.agent.limits
        if state["budget_steps"] >= limits.max_steps:
            return f"step_limit: {limits.max_steps} steps taken and the plan goes on"
        if time.time() - state["budget_started"] >= limits.max_time_s:
            return f"time_limit: {limits.max_time_s:g} s spent and the plan goes on"
        if state["tokens"] >= limits.max_tokens:
            return f"token_limit: about {state['tokens']} tokens of tool output (limit {limits.max_tokens})"
        return None

    def _approved_call(self, tool: str, state: RunState, budget: dict[str, Any]) -> ToolResult | None:
        """Call `tool` (after a person's approval when it changes state); None if they cancel. A tool the
        agent does not declare, or a refused one, is a step that calls nothing."""
        argument = plans.argument(state["text"], tool)
        if tool not in self.agent.tools:
            message = (
                f"{self.agent.name} v{self.agent.version} does not declare {tool}; it has {self.agent.tools}."
            )
            return self._uncalled(state["position"], ToolResult(tool, "not_allowed", None, message), argument)
        if tool_named(tool).changes_state:
            decision = self._approval(tool, argument)
            if decision == CANCEL:
                return None
            if decision != APPROVE:
                refused = ToolResult(tool, "refused", None, f"a person refused to {tool} {argument!r}")
                return self._uncalled(state["position"], refused, argument)
        if tool == "python":
            argument = self._python_program(state["text"], argument)
        left = self.agent.limits.max_time_s - (time.time() - budget["budget_started"])
        return self._traced_call(tool, argument, state["position"], left)

    def _approval(self, tool: str, argument: str) -> str:
        """Wait for a person to approve, refuse or cancel calling `tool`."""
        self.store.update(self.run_id, status="waiting", reason=f"approval: {tool} {argument!r}")
        choices = [APPROVE, REFUSE, CANCEL]
        decision = interrupt({"kind": "approval", "tool": tool, "input": argument, "choices": choices})
        if decision != CANCEL:
            self.store.update(self.run_id, status="running", reason=None)
        return decision

    def _uncalled(self, index: int, result: ToolResult, argument: str) -> ToolResult:
        self.store.add_step(
            self.run_id, _step(index, result.tool, argument, result, None, time.perf_counter())
        )
        return result

    def _traced_call(self, tool: str, argument: str, index: int, time_left_s: float) -> ToolResult:
        tracer = self.tracer or trace.get_tracer("aiprime.agents")
        start = time.perf_counter()
        attributes = {
            "aiprime.agent": self.agent.name,
            "aiprime.agent_run": self.run_id,
            "aiprime.tool": tool,
        }
        with tracer.start_as_current_span(f"agent.step {tool}", attributes=attributes) as span:
            result = self.tools.call(tool, argument, min(time_left_s, self.agent.limits.tool_timeout_s))
            span.set_attribute("aiprime.step_status", result.status)
            if result.status != "ok":
                span.set_status(trace.StatusCode.ERROR, result.message[:200])
            trace_id = format(span.get_span_context().trace_id, "032x")
        self.store.add_step(self.run_id, _step(index, tool, argument, result, trace_id, start))
        return result

    def _python_program(self, text: str, argument: str) -> str:
        """The program the python tool runs: plans.python_program of the quoted arithmetic or dates, else
        the argument itself (a task that brings its own code)."""
        try:
            return plans.python_program(plans.arguments(text))
        except InvalidInput:
            return argument

    def _advance(self, state: RunState, budget: dict[str, Any], result: ToolResult) -> dict[str, Any]:
        summary = _summary(result)
        answer = plans.step_answer(summary) if summary else None
        text = plans.chained_text(state["text"], answer) if answer else state["text"]
        entry = {"tool": result.tool, "status": result.status, "message": result.message, "summary": summary}
        return {
            "position": state["position"] + 1,
            "text": text,
            "budget_steps": budget["budget_steps"] + 1,
            "budget_started": budget["budget_started"],
            "tokens": budget["tokens"] + result.output_bytes // 4,
            "results": [entry],
        }

    def _phrase(self, task: str, results: list[dict[str, Any]], tokens_used: int) -> str:
        """The answer: the LLM's wording of the tool results (one line each, cited by document or step), or
        the lines themselves without an LLM. The LLM sees the task and the results, never the tools."""
        facts = "\n".join(_fact(i, r) for i, r in enumerate(results))
        if self.generator is None:
            return facts
        messages = [{"role": "system", "content": ANSWER_PROMPT},
                    {"role": "user", "content": f"Task: {task}\nTool results:\n{facts}"}]  # fmt: skip
        tokens_left = max(self.agent.limits.max_tokens - tokens_used, 16)
        return self.generator.complete(messages, max_tokens=min(MAX_ANSWER_TOKENS, tokens_left))


def _fact(index: int, result: dict[str, Any]) -> str:
    """`- tool: {fields} [doc_id]`: a tool result as the grounded prompt's source lines read."""
    summary = result["summary"]
    cited = summary.get("doc_id") or f"step-{index}"
    return f"- {result['tool']}: {json.dumps(summary, ensure_ascii=False)[:1500]} [{cited}]"


def _fresh_budget() -> dict[str, Any]:
    return {"budget_steps": 0, "budget_started": time.time()}


def _step(
    index: int, tool: str, argument: str, result: ToolResult, trace_id: str | None, start: float
) -> Step:
    duration_ms = (time.perf_counter() - start) * 1000
    return Step(index, tool, argument, result.status, result.message, result.output, result.http_status,
                result.request_id, trace_id, duration_ms)  # fmt: skip


def _summary(result: ToolResult) -> dict[str, str]:
    """The fields a step passes on and the answer quotes (plans: `word`, `value`, `doc_id`, ...): a
    lookup's first hit, else the answer's first record's plain fields over its first hit's."""
    output = result.output
    if result.status != "ok" or output is None:
        return {}
    if result.tool == "python":
        return {"value": output["stdout"].strip()}
    if result.tool == "transcribe":  # the words go on as the next step's subject
        return {"value": str(output.get("transcript", ""))}
    if isinstance(output, list):  # a lookup's hits
        return _hit_fields(output[0]) if output else {}
    records = output.get("predictions") if isinstance(output, dict) else None
    record = records[0] if isinstance(records, list) and records else output
    if isinstance(record, dict):
        hits = record.get("hits") if isinstance(record.get("hits"), list) else []
        first = _hit_fields(hits[0]) if hits and isinstance(hits[0], dict) else {}
        plain = {k: str(v)[:500] for k, v in record.items() if isinstance(v, str | int | float | bool)}
        if first or plain:
            return first | plain
    return {"value": json.dumps(output, ensure_ascii=False)[:1000]}


def _hit_fields(hit: dict[str, Any]) -> dict[str, str]:
    return {"doc_id": str(hit.get("doc_id", "")), "word": str(hit.get("title", "")),
            "text": str(hit.get("content", ""))[:500]}  # fmt: skip


@dataclass(frozen=True)
class Caller:
    """Who runs (or resumes) an agent: the gateway to call and the bearer token to call it with."""

    gateway_url: str
    token: str
    principal: str  # the token's subject, recorded on the run


@dataclass(frozen=True)
class Runtime:
    """Where runs are stored and checkpointed, and what phrases and traces them."""

    store: RunStore
    db_url: str  # the `aiprime` database (LangGraph's checkpoints)
    generator: Generator | None = None
    tracer: trace.Tracer | None = None
    policy: Policy | None = None  # overrides the agent's declared policy (tests, benches)
    tracking_uri: str | None = None  # the MLflow of a `models:/` policy; None: the settings'
    read_files: bool = True  # media tools may read the files a task names (False in the gateway's process)


def start_run(agent: Agent, task: str, caller: Caller, runtime: Runtime, run_id: str | None = None) -> Run:
    """Run `agent` on `task` until it answers, fails, or waits for a person; return the stored run."""
    if not task.strip():
        raise InvalidInput("The task is empty; say what the agent should do.")
    run_id = run_id or new_run_id()
    runtime.store.start(run_id, agent.name, agent.version, caller.principal, task)
    return _drive(agent, run_id, {"task": task, "results": []}, caller, runtime)


def resume_run(agent: Agent, run_id: str, decision: str, caller: Caller, runtime: Runtime) -> Run:
    """Continue a waiting run from its checkpoint with a person's `decision` (approve, refuse, resume, cancel).

    Raises:
        NotFound: no such run.
        InvalidInput: the run is not waiting, or the decision is not one it can take.
    """
    run = runtime.store.get(run_id)
    if run.status != "waiting":
        raise InvalidInput(f"Run {run_id} is {run.status}, not waiting; only a waiting run can be resumed.")
    choices = (APPROVE, REFUSE, CANCEL) if (run.reason or "").startswith("approval") else (RESUME, CANCEL)
    if decision not in choices:
        raise InvalidInput(f"Run {run_id} waits for {run.reason}; decide one of {', '.join(choices)}.")
    if not runtime.store.claim(run_id, run.reason):  # two decisions at once: the first one resumes it
        raise InvalidInput(
            f"Run {run_id} was decided by someone else just now; `aiprime agents show {run_id}`."
        )
    return _drive(agent, run_id, Command(resume=decision), caller, runtime)


def _drive(agent: Agent, run_id: str, command: Any, caller: Caller, runtime: Runtime) -> Run:
    limits = agent.limits
    tools = GatewayTools(caller.gateway_url, caller.token, run_id, timeout_s=limits.tool_timeout_s,
                         max_output_bytes=limits.max_output_bytes, read_files=runtime.read_files)  # fmt: skip

    def policy() -> tuple[Policy, str]:
        return (runtime.policy, "given") if runtime.policy else declared_policy(agent, runtime.tracking_uri)

    graph = AgentGraph(agent, run_id, tools, runtime.store, policy, runtime.generator, runtime.tracer)
    try:
        with checkpointer(runtime.db_url) as saver:
            state = graph.compile(saver).invoke(command, {"configurable": {"thread_id": run_id}})
    except Exception as e:
        runtime.store.update(run_id, status="failed", reason=f"{type(e).__name__}: {e}"[:2000])
        raise
    finally:
        tools.close()
    if "__interrupt__" not in state:  # a waiting run's status and reason were stored as it stopped
        runtime.store.update(
            run_id, status=state["status"], reason=state.get("reason"), answer=state.get("answer")
        )
    return runtime.store.get(run_id)


def declared_policy(agent: Agent, tracking_uri: str | None = None) -> tuple[Policy, str]:
    """The policy an agent declares and what it is: the fixed rule, or a learned policy
    (aiprime.agents.policy) from MLflow or a folder; its declared fallback while that cannot be loaded.

    Raises:
        ModelNotReady, NotFound, ServiceUnavailable: the learned policy cannot be loaded and there is no fallback.
    """
    if agent.policy == "rules":
        return rules.choose_plan, "rules"
    try:
        return _learned_policy(agent.policy, tracking_uri or Settings().mlflow_url).choose, agent.policy
    except (ModelNotReady, NotFound, ServiceUnavailable) as e:
        if agent.fallback != "rules":
            raise
        return rules.choose_plan, f"rules ({agent.policy} is not available: {e})"[:500]


@functools.cache
def _learned_policy(uri: str, tracking_uri: str) -> Any:
    """The learned policy at `uri`, loaded once per process (a new champion needs a new process)."""
    from aiprime.agents.policy import load_policy  # numpy, VW and the embedder load on use

    if uri.startswith("models:/") and not _answers(f"{tracking_uri.rstrip('/')}/health"):
        raise ServiceUnavailable(
            f"MLflow at {tracking_uri} does not answer; start it with `aiprime services up`."
        )
    return load_policy(uri, tracking_uri)


def _answers(url: str) -> bool:
    """Whether GET `url` answers 2xx within 2 s (MLflow's own client retries for minutes)."""
    try:
        return httpx.get(url, timeout=2.0).is_success
    except httpx.HTTPError:
        return False
