"""The console's Agents view in headless Chromium: a person signs in, finds their agent's run waiting to
train, opens it and approves it; the run resumes through the gateway and shows its step; the policy's
learning curve (reward and regret) is drawn from what the agent_policy asset wrote. Screenshot in
`test-artifacts/console-agents.png`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from _helpers.cdp import browser, chromium_or_skip
from _helpers.gateways import Gateway

from aiprime.agents.declared import AGENTS
from aiprime.agents.graph import Caller, Runtime, start_run
from aiprime.agents.policy import curve_path
from aiprime.agents.runs import RunStore
from aiprime.db.engine import connect
from aiprime.security.admin import Actor, Admin

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "agents-console-password-1"


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip("test the console's Agents view in a browser")


def operator_user(app_db_url: str) -> str:
    admin, actor = Admin(connect(app_db_url)), Actor("tests")
    name = f"agent-person-{uuid.uuid4().hex[:8]}"
    admin.add_principal(actor, name, "user", PASSWORD)
    admin.grant(actor, name, "operator")
    return name


def password_token(gateway: Gateway, user: str) -> str:
    with gateway.client() as client:
        answer = client.post(
            "/oauth/token", data={"grant_type": "password", "username": user, "password": PASSWORD}
        )
    return answer.json()["access_token"]


def write_curve(gateway: Gateway) -> None:
    """A learning curve where the gateway's console reads it, as the agent_policy asset writes it."""
    points = [{"interactions": 250, "mean_reward": 0.4, "cumulative_regret": 90.0, "test_success": 0.6},
              {"interactions": 500, "mean_reward": 0.7, "cumulative_regret": 120.0, "test_success": 0.8}]  # fmt: skip
    path = curve_path(gateway.app.state.console_settings.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"learner": "vw", "oracle": 0.9, "curve": points}))


@pytest.mark.slow
def test_a_person_approves_a_waiting_run_in_the_agents_view(
    chromium: str, gateway: Gateway, app_db_url: str, tmp_path: Path
) -> None:
    user = operator_user(app_db_url)
    runtime = Runtime(RunStore(connect(app_db_url)), app_db_url)
    caller = Caller(gateway.url, password_token(gateway, user), user)
    run = start_run(AGENTS["operator"], 'train "moe"', caller, runtime)
    assert run.status == "waiting"
    write_curve(gateway)
    with browser(chromium, tmp_path / "profile") as page:
        page.open(f"{gateway.url}/console/")
        page.evaluate(f"document.getElementById('username').value = {user!r}")
        page.evaluate(f"document.getElementById('password').value = {PASSWORD!r}")
        page.evaluate("document.querySelector('#login-form button').click()")
        page.wait_for("!document.getElementById('ask-view').hidden")
        page.evaluate("document.querySelector('[data-view=agents]').click()")
        page.wait_for("document.querySelectorAll('#runs-table tbody tr').length === 1")
        assert "operator" in page.evaluate("document.querySelector('#agents-table').textContent")
        summary = page.wait_for("document.getElementById('curve-summary')?.textContent")
        assert "After 500 interactions: mean reward 0.700, cumulative regret 120" in summary
        assert "held-out success 0.800 (the oracle's 0.900)" in summary
        series = "[...document.querySelectorAll('svg.curve')].map(s => s.dataset.series + ':' + s.querySelector('polyline').getAttribute('points').split(' ').length)"
        assert page.evaluate(series) == ["mean_reward:2", "cumulative_regret:2"]
        row = page.evaluate("document.querySelector('#runs-table tbody tr').innerText")
        assert "waiting" in row and "approval: train 'moe'" in row
        page.evaluate("document.querySelector('#runs-table tbody button').click()")
        page.wait_for("document.querySelector('[data-decision=approve]') !== null")
        page.evaluate("document.querySelector('[data-decision=approve]').click()")
        status = page.wait_for(
            "document.querySelector('#run-details h3')?.textContent.endsWith('done') && 'done'"
        )
        assert status == "done"
        step = page.evaluate("document.querySelector('#run-details tbody tr').innerText")
        assert "train" in step and "ok" in step and "kfp-run-1" in step and "not scored" in step
        assert page.evaluate("document.querySelectorAll('[data-decision]').length") == 0
        page.screenshot(ARTIFACTS / "console-agents.png")
    assert RunStore(connect(app_db_url)).get(run.id).status == "done"
