"""`aiprime search`: bad arguments are one line naming the option and the fix (the searches: tests/orchestration/
test_media_search.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from aiprime.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "Pass one of a text query, --image PATH or --audio PATH"),
        (["search", "a frog", "--image", "x.png"], "Pass one of a text query, --image PATH or --audio PATH"),
        (["search", "a frog", "--audio", "x.wav"], "Pass one of a text query, --image PATH or --audio PATH"),
        (["search", "--audio", "/nonexistent/q.wav"], "--audio /nonexistent/q.wav: cannot read it"),
        (["search", "a frog", "--modality", "video"], "--modality video: use text or image"),
        (["search", "--image", "/nonexistent/frog.png"], "--image /nonexistent/frog.png: cannot read it"),
    ],
)
def test_bad_arguments_are_one_line_with_the_fix(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split())
