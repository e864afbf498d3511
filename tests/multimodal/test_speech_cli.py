"""`aiprime ask --audio PATH`: the recording is transcribed and the transcript asked; other sound is refused."""

from __future__ import annotations

import subprocess

from typer.testing import CliRunner

from aiprime.cli import app
from aiprime.settings import Settings

runner = CliRunner()


def test_a_spoken_question_is_transcribed_before_it_is_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path))  # no serving stack runs there
    question = tmp_path / "question.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(question), "Please open the window before noon."], check=True
    )

    result = runner.invoke(app, ["ask", "--audio", str(question)])

    assert "Heard" in result.output and "open the window before noon" in result.output.lower()
    assert result.exit_code == 1 and "No serving stack is running" in result.output


def test_a_sound_effect_as_the_question_is_refused_naming_what_is_supported(tmp_path, monkeypatch):
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path))

    result = runner.invoke(app, ["ask", "--audio", str(Settings().stamps_dir / "animals/birds/rooster.ogg")])

    assert result.exit_code == 1
    assert "--audio: no speech found" in result.output and "spoken English" in result.output


def test_text_and_audio_together_or_neither_are_refused(tmp_path):
    for args in (["ask"], ["ask", "a dog", "--audio", str(tmp_path / "q.wav")]):
        result = runner.invoke(app, args)

        assert result.exit_code == 1 and "as text or as --audio PATH" in result.output
