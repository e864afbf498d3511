"""`aiprime agents`: run through a real gateway as the token's principal, then list, show and resume runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _helpers.agent_gateway import service_account
from _helpers.gateways import Gateway
from typer.testing import CliRunner

from aiprime.cli import app

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_server_url: str) -> None:
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIPRIME_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("AIPRIME_MLFLOW_PORT", "9")  # no MLflow: the assistant's rule chooses


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False, terminal_width=300)
    assert result.exit_code == 0, result.output
    return result.output


def run_id(output: str) -> str:
    return re.search(r"^run ([0-9a-f]{32})", output, re.MULTILINE).group(1)


def test_run_show_and_runs_as_the_tokens_principal(env, gateway: Gateway, app_db_url: str) -> None:
    name, key = service_account(app_db_url, "viewer")
    token = gateway.token(name, key)
    output = invoke(
        "agents", "run", 'what is "6 * 7"?', "--token", token, "--gateway", gateway.url, "--no-llm"
    )
    assert f"as {name}" in output and "done" in output and "42" in output
    shown = invoke("agents", "show", run_id(output))
    assert "python" in shown and "ok" in shown and "print(6 * 7)" in shown
    assert run_id(output) in invoke("agents", "runs")


def test_a_state_change_waits_and_resume_approves_it(env, gateway: Gateway, app_db_url: str) -> None:
    name, key = service_account(app_db_url, "operator")
    token = gateway.token(name, key)
    common = ("--token", token, "--gateway", gateway.url, "--no-llm")
    output = invoke("agents", "run", 'train "moe"', "--agent", "operator", *common)
    assert "waiting" in output and "approval: train 'moe'" in output
    resumed = invoke("agents", "resume", run_id(output), "approve", *common)
    assert "done" in resumed and "kfp-run-1" in resumed


def test_bad_input_is_one_line_with_the_fix(env) -> None:
    result = runner.invoke(
        app, ["agents", "run", "x", "--agent", "nope", "--token", "t", "--gateway", "http://127.0.0.1:9"]
    )
    assert (
        result.exit_code == 1
        and "No agent named 'nope'" in result.output
        and "Traceback" not in result.output
    )
    result = runner.invoke(
        app, ["agents", "run", "x", "--token", "not-a-token", "--gateway", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1 and "neither a gateway access token nor an API key" in result.output
    result = runner.invoke(app, ["agents", "show", "0" * 32])
    assert result.exit_code == 1 and "aiprime agents runs" in result.output
