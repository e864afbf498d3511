"""`aiprime users|keys|roles|audit`: thin commands over the audited admin library, errors in one line."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from aiprime.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(app_db_url: str, pg_server_url: str, tmp_path, monkeypatch) -> None:
    """Point the commands at the session's PostgreSQL (its `aiprime` database is `app_db_url`)."""
    monkeypatch.setenv("AIPRIME_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))


def _run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


@pytest.mark.parametrize(
    "args",
    [
        ["users"],
        ["users", "add"],
        ["users", "grant"],
        ["keys", "create"],
        ["roles", "show"],
        ["audit", "verify"],
    ],
)
def test_every_gateway_command_has_help(args: list[str]) -> None:
    result = _run(*args, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_a_user_is_added_with_a_prompted_password_and_no_role(cli_env) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    added = _run("users", "add", name, stdin="correct horse battery\ncorrect horse battery\n")
    assert added.exit_code == 0, added.output
    assert "with no role" in added.output and "correct horse" not in added.output.split("password:")[-1]
    listed = _run("users", "list")
    line = next(row for row in listed.output.splitlines() if name in row)
    assert " - " in line  # no role


def test_grant_refuses_a_separation_of_duty_conflict_in_one_line(cli_env) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert _run("users", "add", name, "--kind", "service").exit_code == 0
    assert _run("users", "grant", name, "deployer").exit_code == 0
    refused = _run("users", "grant", name, "auditor")
    assert refused.exit_code == 1
    assert "error: Cannot grant 'auditor'" in refused.output and "deploy-vs-audit" in refused.output
    assert "Traceback" not in refused.output
    revoked = _run("users", "revoke", name, "deployer")
    assert revoked.exit_code == 0 and "no role" in revoked.output


def test_a_key_is_printed_once_and_can_be_revoked(cli_env) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    _run("users", "add", name, "--kind", "service")
    created = _run("keys", "create", name)
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("aip_")
    key_id = token.split("_")[1]
    assert _run("keys", "revoke", key_id).exit_code == 0
    again = _run("keys", "revoke", key_id)
    assert again.exit_code == 1 and "No active API key" in again.output


def test_roles_list_and_show_describe_the_hierarchy(cli_env) -> None:
    listed = _run("roles", "list")
    assert listed.exit_code == 0 and "deploy-vs-audit" in listed.output
    shown = _run("roles", "show", "operator")
    assert "inherits from:         viewer" in shown.output
    effective = "effective permissions: ask, console, explain, feedback, ingest, predict, python, train"
    assert effective in " ".join(shown.output.split())  # rich wraps the line at the terminal's width
    missing = _run("roles", "show", "root")
    assert missing.exit_code == 1 and "`aiprime roles list`" in missing.output


def test_commands_without_a_running_database_say_how_to_start_it(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("AIPRIME_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    result = _run("users", "list")
    assert result.exit_code == 1
    assert "aiprime services up" in result.output and "Traceback" not in result.output
