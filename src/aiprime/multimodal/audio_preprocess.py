"""Bounded audio decoding: bytes -> 16 kHz mono float32 samples, refused early when too large or lying.

The upload's size and media type are checked first (`preprocess.require_media`, shared with images, so an
image sent as audio is refused the same way). A WAV's header is checked against the bytes that follow it
before any sample is decoded: a RIFF or data chunk that claims more bytes than the file holds, or a format
chunk whose rates and sizes disagree, is a lying header. Every format is decoded with a bound on duration
(the WAV's is read from its header; the others stop decoding once over it), so memory stays bounded.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from aiprime.errors import InvalidInput, PayloadTooLarge
from aiprime.multimodal.preprocess import require_media

WAV_FORMATS = {1: "PCM", 3: "IEEE float", 0xFFFE: "extensible"}


@dataclass(frozen=True)
class AudioConfig:
    """How bytes become the speech models' input."""

    sample_rate: int = 16_000  # samples per second given to silero-vad and Whisper
    max_bytes: int = 10_000_000  # largest upload accepted
    max_seconds: float = 30.0  # longest clip accepted (Whisper transcribes 30 s windows)


DEFAULT_AUDIO = AudioConfig()


@dataclass(frozen=True)
class WavHeader:
    """The fields of a WAV's format chunk, and where its samples lie."""

    channels: int
    sample_rate: int
    bits: int
    data_bytes: int  # size of the data chunk, checked to lie inside the file

    @property
    def seconds(self) -> float:
        """The duration the header declares."""
        return self.data_bytes / (self.channels * self.sample_rate * self.bits // 8)


def read_wav_header(data: bytes, field: str) -> WavHeader:
    """The format of a RIFF/WAVE file, checked against its length.

    Raises:
        InvalidInput: A chunk claims more bytes than the file holds, or the format chunk is inconsistent.
    """
    lying = f"{field}: the WAV header does not match the file ({{}}). Send the whole, unmodified recording."
    if len(data) < 12 or data[8:12] != b"WAVE" or struct.unpack_from("<I", data, 4)[0] + 8 > len(data):
        raise InvalidInput(lying.format(f"RIFF size {struct.unpack_from('<I', data, 4)[0] + 8:,} bytes, "
                                        f"file {len(data):,} bytes"))  # fmt: skip
    chunks = _wav_chunks(data, lying)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise InvalidInput(lying.format("no fmt or data chunk"))
    fmt = data[chunks[b"fmt "][0] : chunks[b"fmt "][0] + 16]
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt.ljust(16, b"\0"))
    consistent = block_align == channels * bits // 8 and byte_rate == rate * block_align
    if tag not in WAV_FORMATS or not (1 <= channels <= 8 and 8_000 <= rate <= 192_000 and consistent):
        raise InvalidInput(lying.format(f"format {tag}, {channels} channels, {rate} Hz, {bits} bits, "
                                        f"{byte_rate} bytes/s, block {block_align}"))  # fmt: skip
    return WavHeader(channels, rate, bits, chunks[b"data"][1])


def _wav_chunks(data: bytes, lying: str) -> dict[bytes, tuple[int, int]]:
    """Offset and size of each chunk after the RIFF header; a chunk running past the end is refused."""
    chunks, offset = {}, 12
    while offset + 8 <= len(data):
        name, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if offset + 8 + size > len(data):
            raise InvalidInput(
                lying.format(f"chunk {name!r} claims {size:,} bytes, {len(data) - offset - 8:,} remain")
            )
        chunks.setdefault(name, (offset + 8, size))
        offset += 8 + size + size % 2
    return chunks


def decode_audio(data: bytes, field: str = "audio", config: AudioConfig = DEFAULT_AUDIO) -> np.ndarray:
    """Mono float32 samples at `config.sample_rate` from an audio file's bytes, within the bounds of `config`.

    Raises:
        PayloadTooLarge: The upload or the clip's duration is over its bound.
        InvalidInput: Not audio (an image, say), a lying WAV header, or a file that cannot be decoded.
    """
    if require_media(data, "audio", field, config.max_bytes) == "audio/wav":
        header = read_wav_header(data, field)
        if header.seconds > config.max_seconds:
            raise _too_long(field, header.seconds, config)
    return _decode_bounded(data, field, config)


def _too_long(field: str, seconds: float, config: AudioConfig) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{field}: a clip of {seconds:.1f} s is longer than the {config.max_seconds:.0f} s accepted. "
        "Send a shorter recording."
    )


def _decode_bounded(data: bytes, field: str, config: AudioConfig) -> np.ndarray:
    import av

    limit = int(config.max_seconds * config.sample_rate)
    pieces, total = [], 0
    resampler = av.AudioResampler(format="flt", layout="mono", rate=config.sample_rate)
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            for frame in container.decode(audio=0):
                for resampled in resampler.resample(frame):
                    pieces.append(resampled.to_ndarray().reshape(-1))
                    total += pieces[-1].size
                if total > limit:
                    raise _too_long(field, total / config.sample_rate, config)
            pieces.extend(
                r.to_ndarray().reshape(-1) for r in resampler.resample(None)
            )  # the resampler's tail
    except (av.error.FFmpegError, ValueError, IndexError) as e:
        raise InvalidInput(
            f"{field}: the audio cannot be decoded ({e}); it may be truncated or damaged. Send the whole file."
        ) from e
    if total == 0:
        raise InvalidInput(f"{field}: the audio holds no samples. Send a recording of at least a second.")
    return np.concatenate(pieces).astype(np.float32)
