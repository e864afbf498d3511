"""The agents' routes on a real gateway: runs as their principal sees them, and a decision on a waiting run
that resumes it from its checkpoint with the deciding person's token."""

from __future__ import annotations

import json

from _helpers.agent_gateway import service_account
from _helpers.gateways import Gateway

from aiprime.agents.declared import AGENTS
from aiprime.agents.graph import Caller, Runtime, start_run
from aiprime.agents.policy import curve_path
from aiprime.agents.runs import RunStore
from aiprime.db.engine import connect
from aiprime.security import audit


def waiting_train_run(gateway: Gateway, app_db_url: str) -> tuple[str, str]:
    """An operator's run of the operator agent, waiting for approval to train; (run id, the operator's token)."""
    name, key = service_account(app_db_url, "operator")
    token = gateway.token(name, key)
    runtime = Runtime(RunStore(connect(app_db_url)), app_db_url)
    run = start_run(AGENTS["operator"], 'train "moe"', Caller(gateway.url, token, name), runtime)
    assert run.status == "waiting"
    return run.id, token


def test_the_declared_agents_are_listed(gateway: Gateway, app_db_url: str) -> None:
    name, key = service_account(app_db_url, "viewer")
    with gateway.client(gateway.token(name, key)) as client:
        listed = client.get("/v1/agents").json()
    assert {a["name"]: a["version"] for a in listed} == {"assistant": 3, "operator": 1}


def test_a_principal_sees_its_own_runs_only(gateway: Gateway, app_db_url: str) -> None:
    run_id, token = waiting_train_run(gateway, app_db_url)
    with gateway.client(token) as client:
        mine = client.get("/v1/agents/runs").json()
        assert [(r["id"], r["status"]) for r in mine] == [(run_id, "waiting")]
        assert client.get(f"/v1/agents/runs/{run_id}").json()["reason"] == "approval: train 'moe'"
    other, key = service_account(app_db_url, "viewer")
    with gateway.client(gateway.token(other, key)) as client:
        assert client.get("/v1/agents/runs").json() == []
        assert client.get(f"/v1/agents/runs/{run_id}").status_code == 404
        assert (
            client.post(f"/v1/agents/runs/{run_id}/decision", json={"decision": "approve"}).status_code == 404
        )


def test_approving_resumes_the_run_and_the_call_is_audited_as_the_approver(
    gateway: Gateway, app_db_url: str
) -> None:
    run_id, token = waiting_train_run(gateway, app_db_url)
    with gateway.client(token) as client:
        wrong = client.post(f"/v1/agents/runs/{run_id}/decision", json={"decision": "resume"})
        assert wrong.status_code == 400 and "approve, refuse, cancel" in wrong.json()["error"]["message"]
        done = client.post(f"/v1/agents/runs/{run_id}/decision", json={"decision": "approve"}).json()
    assert done["status"] == "done" and done["steps"][0]["status"] == "ok"
    gateway.flush_audit()
    with connect(app_db_url).connect() as conn:
        (row,) = audit.read(conn, request_id=done["steps"][0]["request_id"])
    assert (row.entry.action, row.entry.detail["agent_run"]) == ("POST /v1/train", run_id)


def test_the_routes_need_the_console_permission(gateway: Gateway, app_db_url: str) -> None:
    name, key = service_account(app_db_url, "auditor")
    with gateway.client(gateway.token(name, key)) as client:
        assert client.get("/v1/agents/runs").status_code == 403


def test_the_policys_learning_curve_is_served_once_a_retraining_wrote_it(
    gateway: Gateway, app_db_url: str
) -> None:
    name, key = service_account(app_db_url, "viewer")
    path = curve_path(gateway.app.state.console_settings.home)
    with gateway.client(gateway.token(name, key)) as client:
        before = client.get("/v1/agents/policy")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not json")
        corrupt = client.get("/v1/agents/policy")
        point = {"interactions": 250, "mean_reward": 0.5, "cumulative_regret": 40.0, "test_success": 0.7}
        path.write_text(json.dumps({"learner": "vw", "oracle": 0.9, "curve": [point]}))
        after = client.get("/v1/agents/policy")
    assert before.status_code == 404 and "job `agents`" in before.json()["error"]["message"]
    assert corrupt.status_code == 422 and "not a learning curve" in corrupt.json()["error"]["message"]
    assert after.status_code == 200 and after.json()["curve"] == [point]
