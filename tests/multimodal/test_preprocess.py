"""Bounded decoding and the shared tensor recipe of `aiprime.multimodal.preprocess`."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from aiprime.errors import InvalidInput, PayloadTooLarge
from aiprime.multimodal.preprocess import (
    ImageConfig,
    config_hash,
    decode_image,
    image_tensor,
    require_media,
    sniff_media_type,
)

SVG_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE svg [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&d;&d;&d;&d;</text></svg>
"""
# The shape drawing programs write: a DOCTYPE of plain text entities, used as attribute values.
SVG_PLAIN_ENTITIES = b"""<?xml version="1.0"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [
  <!ENTITY ns_svg "http://www.w3.org/2000/svg">
  <!ENTITY red "#ff0000">
]>
<svg xmlns="&ns_svg;" width="20" height="10"><rect width="20" height="10" fill="&red;"/></svg>
"""


def png_bytes(width: int = 8, height: int = 6, mode: str = "RGBA", color=(10, 200, 30, 255)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(out, format="JPEG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (with a valid CRC) declares `width` x `height` pixels."""
    data = bytearray(png_bytes(1, 1))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_truncated_jpeg_is_a_clear_error_naming_the_field():
    data = jpeg_bytes()
    with pytest.raises(InvalidInput, match=r"^inputs\[0\]: the image cannot be decoded .*truncated"):
        decode_image(data[: len(data) // 2], "inputs[0]")


def test_svg_entity_bomb_is_refused_naming_the_field():
    with pytest.raises(InvalidInput, match=r"^image: the SVG cannot be rendered \(EntitiesForbidden"):
        decode_image(SVG_BOMB, "image")


def test_plain_svg_entities_are_expanded_and_rendered():
    image = decode_image(SVG_PLAIN_ENTITIES, "image")
    assert image.size == (224, 224)
    assert image.getpixel((112, 112)) == (255, 0, 0, 255)


def test_plain_entities_that_expand_past_the_bound_are_refused():
    svg = SVG_PLAIN_ENTITIES.replace(b'"#ff0000"', b'"' + b"x" * 5000 + b'"').replace(
        b"<rect", b"<g id='&red;&red;'/><rect"
    )
    with pytest.raises(PayloadTooLarge, match="entities expand to more than 9,000 bytes"):
        decode_image(svg, "image", ImageConfig(max_svg_bytes=9_000))


def test_oversized_upload_is_refused_before_decoding():
    upload = png_bytes() + b"\0" * 50_000_000
    with pytest.raises(
        PayloadTooLarge, match=r"^image: 50,000,\d+ bytes is more than the 20,000,000 accepted"
    ):
        image_tensor(upload, "image")


@pytest.mark.parametrize(("side", "said"), [(8_000, "8000x8000"), (100_000, "over 178,956,970")])
def test_declared_pixels_are_checked_before_decoding(side, said):
    with pytest.raises(PayloadTooLarge, match=rf"^image: {said} pixels is more than the 40,000,000 accepted"):
        decode_image(png_claiming(side, side), "image")


def test_an_image_sent_as_audio_names_the_field_and_what_was_found():
    with pytest.raises(InvalidInput, match=r"^audio: expected audio \(WAV.*found image/png data"):
        require_media(png_bytes(), "audio", "audio", max_bytes=1_000_000)


def test_audio_sent_as_an_image_is_refused():
    wav = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + b"\0" * 24
    with pytest.raises(InvalidInput, match=r"^image: expected image .*found audio/wav data"):
        image_tensor(wav, "image")


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(png_bytes(), "image/png"), (jpeg_bytes(), "image/jpeg"), (SVG_PLAIN_ENTITIES, "image/svg+xml"),
     (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"), (b"OggS\0\2", "audio/ogg"), (b"hello", None)],
)  # fmt: skip
def test_media_type_is_read_from_the_bytes(data, media_type):
    assert sniff_media_type(data) == media_type


def test_transparent_pixels_become_the_background_and_the_image_is_padded_square():
    wide = png_bytes(40, 10, color=(0, 0, 0, 0))
    tensor = image_tensor(wide, "image")
    assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
    white = (1.0 - np.array(ImageConfig().mean)) / np.array(ImageConfig().std)
    np.testing.assert_allclose(tensor[:, 112, 112], white, rtol=1e-5)


def test_config_hash_changes_with_any_field():
    base = ImageConfig()
    assert config_hash(base) == config_hash(ImageConfig())
    assert config_hash(replace(base, background=0)) != config_hash(base)
    assert config_hash(replace(base, size=192)) != config_hash(base)
