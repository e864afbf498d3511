"""Agent runs end to end: a real gateway with a real principal's token, LangGraph checkpoints in PostgreSQL,
spans in an in-memory exporter, and the limits, approvals, resume and cancel of a waiting run."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from _helpers.agent_gateway import PlatformUpstream, agent_gateway, service_account
from _helpers.bow_embedder import hashed_bag_of_words
from _helpers.chat_stub import chat_app
from _helpers.gateways import Gateway
from _helpers.servers import AsgiServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiprime.agents.declared import AGENTS, DIGESTS, Limits
from aiprime.agents.graph import Caller, Runtime, resume_run, start_run
from aiprime.agents.plans import Plan
from aiprime.agents.policy import ToolPolicy
from aiprime.agents.runs import RunStore
from aiprime.db.engine import connect
from aiprime.errors import InvalidInput
from aiprime.rag.generators import OpenAICompatibleGenerator
from aiprime.security import audit

ASSISTANT = AGENTS["assistant"]
NO_MLFLOW = "http://127.0.0.1:9"  # nothing answers: the assistant's learned policy cannot be loaded


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def runtime(app_db_url: str, spans: InMemorySpanExporter) -> Runtime:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    store = RunStore(connect(app_db_url))
    return Runtime(store, app_db_url, tracer=provider.get_tracer("test"), tracking_uri=NO_MLFLOW)


def caller(gateway: Gateway, app_db_url: str, *roles: str) -> Caller:
    name, key = service_account(app_db_url, *roles)
    return Caller(gateway.url, gateway.token(name, key), name)


def fixed(*tools: str) -> Runtime:
    """A policy choosing `tools` whatever the task (what a looping or misled policy does)."""
    return lambda text: Plan(tools, 0.5)


def test_each_tool_call_of_a_run_leaves_an_audit_row_and_a_span(
    gateway: Gateway, app_db_url: str, runtime: Runtime, spans: InMemorySpanExporter
) -> None:
    who = caller(gateway, app_db_url, "viewer")
    run = start_run(
        ASSISTANT, 'find "dog" then its sense', who, replace(runtime, policy=fixed("search", "wordnet"))
    )
    assert run.status == "done", run
    assert [(s.tool, s.status) for s in run.steps] == [("search", "ok"), ("wordnet", "ok")]
    assert run.plan == ("search", "wordnet") and run.propensity == 0.5
    assert "genus Canis" in run.answer
    gateway.flush_audit()
    with connect(app_db_url).connect() as conn:
        rows = [audit.read(conn, request_id=s.request_id)[0].entry for s in run.steps]
    assert {(r.actor, r.action, r.detail["agent_run"]) for r in rows} == {
        (who.principal, "POST /v1/search", run.id)
    }
    step_spans = [s for s in spans.get_finished_spans() if s.name.startswith("agent.step")]
    assert [s.attributes["aiprime.tool"] for s in step_spans] == ["search", "wordnet"]
    assert [format(s.context.trace_id, "032x") for s in step_spans] == [s.trace_id for s in run.steps]
    assert [r.trace_id for r in rows] == [s.trace_id for s in run.steps]  # the gateway continued each trace


def test_the_llm_phrases_the_answer_from_the_tool_results_only(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    app = chat_app()
    with AsgiServer(app) as chat:
        generator = OpenAICompatibleGenerator(chat.url, "stub")
        llm_runtime = replace(runtime, generator=generator, policy=fixed("wordnet"))
        run = start_run(ASSISTANT, 'define "dog"', caller(gateway, app_db_url, "viewer"), llm_runtime)
    (request,) = app.state.requests
    assert run.status == "done" and run.answer.startswith("[wn:02084071-n] wordnet:")
    prompt = request["messages"][-1]["content"]
    assert 'Task: define "dog"' in prompt and "genus Canis" in prompt
    assert "classify" not in json.dumps(request)  # it is shown no tool to choose


def test_an_agent_cannot_use_a_permission_its_user_lacks(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    who = caller(gateway, app_db_url, "auditor")  # no ask
    run = start_run(ASSISTANT, "what is a dog?", who, replace(runtime, policy=fixed("ask")))
    assert run.status == "failed"
    assert run.steps[0].status == "forbidden" and run.steps[0].http_status == 403
    assert "ask forbidden" in run.reason


def test_a_python_step_answers_quoted_arithmetic_in_the_sandbox(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    who = caller(gateway, app_db_url, "viewer")
    run = start_run(ASSISTANT, 'what is "12 * 7"?', who, runtime)  # the rule: python
    assert run.plan == ("python",) and run.status == "done"
    assert run.policy.startswith("rules (models:/aiprime-agent-policy@champion is not available: MLflow at")
    assert run.steps[0].output["stdout"] == "84\n" and "84" in run.answer


def test_a_looping_plan_waits_at_the_step_limit_then_resumes_and_can_be_cancelled(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    agent = replace(ASSISTANT, limits=Limits(max_steps=2))
    who = caller(gateway, app_db_url, "viewer")
    looping = replace(runtime, policy=fixed(*["classify"] * 50))
    run = start_run(agent, "a dog barks", who, looping)
    assert (run.status, len(run.steps)) == ("waiting", 2)
    assert run.reason.startswith("step_limit: 2 steps")
    with pytest.raises(InvalidInput, match="resume, cancel"):
        resume_run(agent, run.id, "approve", who, looping)
    run = resume_run(agent, run.id, "resume", who, looping)  # from the checkpoint: 2 more steps
    assert (run.status, [s.index for s in run.steps]) == ("waiting", [0, 1, 2, 3])
    run = resume_run(agent, run.id, "cancel", who, looping)
    assert run.status == "cancelled" and len(run.steps) == 4
    with pytest.raises(InvalidInput, match="cancelled, not waiting"):
        resume_run(agent, run.id, "resume", who, looping)


def test_large_outputs_stop_the_run_at_its_token_limit_until_a_person_resumes_it(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    agent = replace(ASSISTANT, limits=Limits(max_tokens=150))  # a search answer is about 100 tokens
    who = caller(gateway, app_db_url, "viewer")
    searching = replace(runtime, policy=fixed(*["search"] * 5))
    run = start_run(agent, 'find "dog"', who, searching)
    assert (run.status, len(run.steps)) == ("waiting", 2) and run.reason.startswith("token_limit")
    run = resume_run(agent, run.id, "resume", who, searching)  # a fresh budget: two more steps
    assert (run.status, len(run.steps)) == ("waiting", 4)
    assert resume_run(agent, run.id, "cancel", who, searching).status == "cancelled"


def test_code_that_prints_a_gigabyte_stops_at_the_sandboxs_output_limit(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    who = caller(gateway, app_db_url, "viewer")
    task = "run \"while 1: print('x' * 65536)\""
    run = start_run(ASSISTANT, task, who, replace(runtime, policy=fixed("python")))
    assert [(s.tool, s.status) for s in run.steps] == [("python", "output_limit")]
    assert run.status == "failed" and "python output_limit" in run.reason
    assert len(json.dumps(run.steps[0].output)) < ASSISTANT.limits.max_output_bytes


def test_a_hanging_tool_stops_at_the_time_limit_and_the_run_waits(
    app_db_url: str, platform: PlatformUpstream, runtime: Runtime, tmp_path: Path
) -> None:
    gw = agent_gateway(app_db_url, tmp_path, platform.url, ask="/hang")
    try:
        agent = replace(ASSISTANT, limits=Limits(max_time_s=1.0))
        who = caller(gw, app_db_url, "viewer")
        run = start_run(agent, "what is a dog?", who, replace(runtime, policy=fixed("ask", "ask")))
        assert run.steps[0].status == "timeout"
        assert run.status == "waiting" and run.reason.startswith("time_limit")
        assert resume_run(agent, run.id, "cancel", who, runtime).status == "cancelled"
    finally:
        platform.release.set()
        gw.stop()
        platform.release.clear()


def test_a_state_change_waits_for_a_persons_approval(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    operator = AGENTS["operator"]
    who = caller(gateway, app_db_url, "operator")
    run = start_run(operator, 'train "moe"', who, runtime)
    assert run.status == "waiting" and run.reason == "approval: train 'moe'" and run.steps == ()
    run = resume_run(operator, run.id, "approve", who, runtime)
    assert run.status == "done" and run.steps[0].status == "ok"
    assert run.steps[0].output == {"run_id": "kfp-run-1", "status": "started"}
    refused = start_run(operator, 'deploy "gate@3"', who, runtime)
    refused = resume_run(operator, refused.id, "refuse", who, runtime)
    assert refused.status == "failed" and refused.steps[0].status == "refused"


def test_two_decisions_at_once_resume_the_run_once(
    gateway: Gateway, app_db_url: str, runtime: Runtime, platform: PlatformUpstream
) -> None:
    operator = AGENTS["operator"]
    who = caller(gateway, app_db_url, "operator")
    run = start_run(operator, 'train "twice"', who, runtime)
    trains = sum(1 for seen in platform.seen if seen["path"] == "/train")

    def decide() -> str:
        try:
            return resume_run(operator, run.id, "approve", who, runtime).status
        except InvalidInput as e:
            return str(e)

    with ThreadPoolExecutor(2) as pool:
        done, refused = sorted(pool.map(lambda _: decide(), range(2)), key=lambda outcome: outcome != "done")
    assert done == "done", (done, refused)
    assert "decided by someone else" in refused or "is running, not waiting" in refused, refused
    assert sum(1 for seen in platform.seen if seen["path"] == "/train") == trains + 1


def test_a_tool_the_agent_does_not_declare_is_not_called(
    gateway: Gateway, app_db_url: str, runtime: Runtime, platform: PlatformUpstream
) -> None:
    seen = len(platform.seen)
    run = start_run(ASSISTANT, 'deploy "gate@3"', caller(gateway, app_db_url, "deployer"), runtime)
    assert run.status == "failed" and run.steps[0].status == "not_allowed"
    assert len(platform.seen) == seen


def test_a_learned_policys_plan_and_propensity_are_recorded(
    gateway: Gateway, app_db_url: str, runtime: Runtime
) -> None:
    policy, twin = (ToolPolicy.new("linucb", hashed_bag_of_words, "hashed-bow-test", seed=1) for _ in "ab")
    who = caller(gateway, app_db_url, "viewer")
    run = start_run(ASSISTANT, 'define "dog"', who, replace(runtime, policy=policy.choose))
    chosen = twin.choose('define "dog"')  # the same untrained LinUCB with the same seed draws the same plan
    assert run.policy == "given" and run.plan == chosen.tools
    assert run.propensity == pytest.approx(chosen.propensity) and 0 < run.propensity < 1
    assert len(run.steps) == len(run.plan)


def test_every_declared_agent_version_pins_its_declaration() -> None:
    assert {key: agent.digest() for key, agent in ((k, AGENTS[k[0]]) for k in DIGESTS)} == DIGESTS, (
        "an agent's declaration changed: raise its version and record the new digest in DIGESTS"
    )
