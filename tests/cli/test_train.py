"""`aiprime train`: help, a one-line error for an unreachable Kubeflow Pipelines server, a stale compiled YAML.

The local run itself is tested end to end in tests/training/test_kubeflow.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiprime.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_train_has_help() -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--host" in result.output and "--limit" in result.output, result.output


def test_an_unreachable_pipelines_server_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["train", "--host", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: Cannot submit to Kubeflow Pipelines at http://127.0.0.1:9" in result.output
    assert "Check --host" in result.output


def test_a_stale_compiled_pipeline_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "data" / "dvc.yaml", tmp_path / "data" / "dvc.yaml")
    (tmp_path / "components").symlink_to(REPO / "components")
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    compiled = tmp_path / "pipelines" / "compiled" / "moe_training.yaml"
    compiled.write_text(compiled.read_text().replace("max_epochs", "epochs"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "--host", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "differs from pipelines/moe_training.py" in result.output, result.output
    assert "python -m aiprime.training.kubeflow" in result.output
