"""`aiprime lineage`: the document on stdout or in a file, missing links on stderr with exit status 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiprime.cli import app
from aiprime.cli.lineage import INCOMPLETE
from aiprime.provenance import export

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def env(mlflow_url: str, pg_server_url: str, checkout: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIPRIME_MLFLOW_TRACKING_URI", mlflow_url)
    monkeypatch.setenv("AIPRIME_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(checkout)


def test_a_resolved_version_exits_0_with_its_prov_json(env, register, trained_tags, tmp_path: Path) -> None:
    version = register("aiprime-gate", trained_tags)

    result = runner.invoke(app, ["lineage", f"gate@{version}", "--out", str(tmp_path / "gate.json")])

    assert result.exit_code == 0, result.output
    document = export.from_prov_json((tmp_path / "gate.json").read_text())
    assert f"aiprime:model/aiprime-gate/{version}" in json.loads(document.serialize(format="json"))["entity"]


def test_missing_links_are_named_and_exit_3(env, register) -> None:
    version = register("aiprime-gate", {"source": "aiprime.serving.smoke"})

    result = runner.invoke(app, ["lineage", f"aiprime-gate@{version}", "--format", "provn"])

    assert result.exit_code == INCOMPLETE == 3
    assert f"entity(aiprime:model/aiprime-gate/{version}" in result.stdout
    assert f"missing: aiprime-gate v{version} -> training data version" in result.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [("gate@999", "no version 999 of aiprime-gate"), ("unknown-request", "No request 'unknown-request'")],
)
def test_an_unknown_target_is_one_line_and_exit_1(env, target: str, message: str) -> None:
    result = runner.invoke(app, ["lineage", target])

    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_an_unknown_format_names_the_choices(env, register, trained_tags) -> None:
    result = runner.invoke(
        app, ["lineage", f"gate@{register('aiprime-gate', trained_tags)}", "--format", "xml"]
    )

    assert result.exit_code == 1
    assert "use one of prov-json, provn, ttl, svg" in result.stderr
