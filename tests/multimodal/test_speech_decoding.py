"""Bounded audio decoding in `aiprime.multimodal.audio_preprocess`: lying headers, long clips, non-audio."""

from __future__ import annotations

import io
import struct
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from aiprime.errors import InvalidInput, PayloadTooLarge
from aiprime.multimodal.audio_preprocess import DEFAULT_AUDIO, decode_audio, read_wav_header
from tests.multimodal.test_speech import wav_bytes

TONE = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8_000) / 8_000)  # one second at 8 kHz


def test_decodes_a_wav_to_16k_mono_samples():
    samples = decode_audio(wav_bytes(TONE, rate=8_000))

    assert samples.dtype == np.float32
    assert abs(samples.size - 16_000) <= 64
    assert 0.25 < np.abs(samples).max() <= 0.31


@pytest.mark.parametrize(
    ("lie", "detail"),
    [
        (lambda d: d[:4] + struct.pack("<I", 50_000_000) + d[8:], "RIFF size"),
        (lambda d: d[:40] + struct.pack("<I", 50_000_000) + d[44:], "claims 50,000,000 bytes"),
        (lambda d: d[:24] + struct.pack("<I", 1_000_000) + d[28:], "1000000 Hz"),
        (lambda d: d[:28] + struct.pack("<I", 123) + d[32:], "123 bytes/s"),
    ],
)
def test_a_lying_wav_header_is_refused_before_decoding(lie, detail):
    lying = lie(wav_bytes(TONE, rate=8_000))

    with pytest.raises(InvalidInput, match=f"recording: the WAV header does not match.*{detail}"):
        decode_audio(lying, field="recording")


def test_a_truncated_wav_is_refused():
    whole = wav_bytes(TONE, rate=8_000)

    with pytest.raises(InvalidInput, match="RIFF size 16,044 bytes, file 15,944 bytes"):
        read_wav_header(whole[:-100], "audio")


def test_a_clip_longer_than_the_bound_is_refused():
    long_clip = wav_bytes(np.zeros(8_000 * 3), rate=8_000)

    with pytest.raises(PayloadTooLarge, match="audio: a clip of 3.0 s is longer than the 2 s"):
        decode_audio(long_clip, config=replace(DEFAULT_AUDIO, max_seconds=2))


def test_a_long_compressed_clip_stops_decoding_at_the_bound(tmp_path):
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=8_000, layout="mono")
        frame = av.AudioFrame.from_ndarray((np.zeros((1, 8_000 * 5)) * 0).astype("<i2"), format="s16",
                                           layout="mono")  # fmt: skip
        frame.sample_rate = 8_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)

    with pytest.raises(PayloadTooLarge, match="longer than the 2 s"):
        decode_audio(out.getvalue(), config=replace(DEFAULT_AUDIO, max_seconds=2))


def test_an_image_or_text_sent_as_audio_is_refused_naming_the_field():
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")

    with pytest.raises(InvalidInput, match="clip: expected audio .*found image/png"):
        decode_audio(png.getvalue(), field="clip")
    with pytest.raises(InvalidInput, match="clip: expected audio .*found no known format"):
        decode_audio(b"hello, this is text", field="clip")


def test_an_upload_over_the_byte_bound_is_refused():
    with pytest.raises(PayloadTooLarge, match="audio: 2,000 bytes is more than the 1,000"):
        decode_audio(b"RIFF" + bytes(1_996), config=replace(DEFAULT_AUDIO, max_bytes=1_000))


def test_damaged_ogg_is_refused_as_undecodable():
    with pytest.raises(InvalidInput, match="audio: the audio cannot be decoded"):
        decode_audio(b"OggS" + bytes(500))
