"""The `aiprime` command: help everywhere, one-line errors, services status without starting anything."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from aiprime.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["services"],
        ["data"],
        ["services", "up"],
        ["data", "ingest"],
        ["data", "status"],
        ["data", "stage"],
        ["run"],
        ["ui"],
        ["gateway"],
        ["users"],
        ["roles"],
        ["audit"],
        ["backup"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_status_reports_stopped_services_without_starting_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIPRIME_MLFLOW_PORT", "9")
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 0, result.output
    assert len(re.findall(r"(postgresql|mlflow)\s+│\s+stopped", result.output)) == 2, result.output
    assert not (tmp_path / "home" / "pg").exists()


def test_a_wrong_database_url_is_one_line_with_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIPRIME_DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/aiprime")
    result = runner.invoke(app, ["services", "up"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "error: Cannot connect to PostgreSQL at postgresql+psycopg://u:***@127.0.0.1:1" in result.output
    assert "Check AIPRIME_DATABASE_URL" in result.output


def test_data_status_outside_a_checkout_says_where_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["data", "status"])
    assert result.exit_code == 1
    assert "Run this command from inside the repository" in result.output.replace("\n", " ")
