"""Speech in `aiprime.multimodal.speech`: real espeak-ng speech transcribed, other sound refused as not speech."""

from __future__ import annotations

import io
import subprocess
import wave

import numpy as np
import pytest

from aiprime.errors import NotSpeech
from aiprime.multimodal import speech
from aiprime.multimodal.speech import (
    cached_transcripts,
    normalise_words,
    transcribe,
    word_edits,
    word_error_rate,
)
from aiprime.settings import Settings

# espeak-ng (a synthetic voice) saying these: tiny.en measured 2 word errors in 22 (WER 0.09; "jump", "nog").
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A red apple and a yellow banana.",
    "Please open the window before noon.",
)


def espeak_wav(text: str, tmp_path) -> bytes:
    path = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path.read_bytes()


def wav_bytes(samples: np.ndarray, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def test_transcribes_espeak_speech_to_its_words(tmp_path):
    transcripts = [transcribe(espeak_wav(text, tmp_path)) for text in SENTENCES]

    assert word_error_rate(list(SENTENCES), [t.text for t in transcripts]) <= 0.2
    assert all(0 < t.speech_seconds <= t.seconds for t in transcripts)


def test_a_tuxpaint_sound_effect_is_refused_as_not_speech():
    rooster = (Settings().stamps_dir / "animals/birds/rooster.ogg").read_bytes()

    with pytest.raises(NotSpeech, match="audio: no speech found.*spoken English") as refused:
        transcribe(rooster)
    assert refused.value.http_status == 422


def test_a_tone_and_noise_are_refused_as_not_speech():
    t = np.arange(32_000) / 16_000
    chime = 0.5 * np.sin(2 * np.pi * 880 * t) * np.exp(-2 * t)
    noise = np.random.default_rng(0).normal(0, 0.2, 32_000)

    for sound in (chime, noise):
        with pytest.raises(NotSpeech, match="voice_note: no speech found"):
            transcribe(wav_bytes(sound), field="voice_note")


def test_word_error_rate_counts_edits_after_normalising():
    assert normalise_words("Mr. Dashwood's cold-hearted, ill-disposed!") == [
        "mister", "dashwood's", "cold", "hearted", "ill", "disposed",
    ]  # fmt: skip
    assert word_edits(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert word_error_rate(["one two three four"], ["one too three"]) == 0.5


def test_transcripts_are_cached_by_content(tmp_path, monkeypatch):
    clips = [espeak_wav(SENTENCES[0], tmp_path), espeak_wav(SENTENCES[1], tmp_path)]
    first = cached_transcripts(clips, tmp_path / "cache")
    assert word_error_rate(list(SENTENCES[:2]), first) <= 0.2

    def not_again(*args, **kwargs):
        raise AssertionError("transcribed again")

    monkeypatch.setattr(speech, "transcribe_samples", not_again)
    assert cached_transcripts(clips, tmp_path / "cache") == first
    with pytest.raises(AssertionError, match="transcribed again"):  # other bytes: another key
        cached_transcripts(clips[:1], tmp_path / "cache")
