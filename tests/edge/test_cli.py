"""`aiprime edge`: bad arguments are one line with the fix and a non-zero exit status."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aiprime.cli import app

runner = CliRunner()


def test_an_unknown_quantization_names_the_choices():
    result = runner.invoke(app, ["edge", "build", "--quantization", "int4"])
    assert result.exit_code == 1
    assert "use one of static, dynamic, weights8, none" in result.output


def test_serving_a_folder_that_is_no_bundle_says_how_to_build_one(tmp_path: Path):
    result = runner.invoke(app, ["edge", "serve", "--bundle", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert "aiprime edge build" in result.output


def test_an_unknown_encoder_names_the_choices():
    result = runner.invoke(app, ["edge", "build", "--encoder", "fp16"])
    assert result.exit_code == 1
    assert "use one of blockwise, shipped" in result.output
