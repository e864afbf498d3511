"""The one image preprocessing of training and serving: bounded decoding, then a fixed tensor recipe.

Training and serving both call `image_tensor`, and the registered projection carries `config_hash(config)` in
its MLflow tags, so a server whose preprocessing differs from the one the model was trained with can tell.
Decoding is bounded before any pixel is allocated: the upload's size, the declared pixel count (PNG/JPEG
headers are read first), and for SVG the document size, no entities (cairosvg parses with defusedxml), no
external references, and a fixed output size.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from aiprime.errors import InvalidInput, PayloadTooLarge

RASTER_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
AUDIO_MAGIC = {b"RIFF": "audio/wav", b"OggS": "audio/ogg", b"fLaC": "audio/flac", b"ID3": "audio/mpeg"}
SUPPORTED = {"image": ("PNG", "JPEG", "GIF", "WebP", "SVG"), "audio": ("WAV", "Ogg", "FLAC", "MP3")}
# Drawing programs declare plain text entities (`<!ENTITY ns_svg "http://www.w3.org/2000/svg">`); those are
# expanded here once, and any other DOCTYPE (nested, external, parameter entities) is refused by defusedxml.
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*\[(?P<subset>.*?)\]\s*>", re.DOTALL)
_PLAIN_ENTITY = re.compile(rb"""<!ENTITY\s+(?P<name>[\w.-]+)\s+(?P<q>["'])(?P<value>[^"'&%<]*)(?P=q)\s*>""")


@dataclass(frozen=True)
class ImageConfig:
    """How bytes become the image tower's input; hashed into the model's tags (`config_hash`)."""

    size: int = 224  # side of the square input, in pixels (EfficientNet-Lite0's resolution)
    background: int = 255  # grey level that transparent pixels are composited onto (stamps are cut-outs)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet channel means (RGB, 0..1)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)  # ImageNet channel standard deviations
    max_bytes: int = 20_000_000  # largest upload accepted
    max_pixels: int = 40_000_000  # largest decoded raster (width x height), checked before decoding
    max_svg_bytes: int = 2_000_000  # largest SVG document accepted
    svg_render: int = 224  # side of the square an SVG is rendered into (512 took 2.6x the CPU)


DEFAULT_CONFIG = ImageConfig()


def config_hash(config: ImageConfig) -> str:
    """sha256 (first 16 hex digits) of the config's fields: equal hashes mean identical preprocessing."""
    return hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:16]


def sniff_media_type(data: bytes) -> str | None:
    """The media type that `data`'s first bytes announce (image/png, image/svg+xml, audio/wav, ...), or None."""
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, media_type in {**RASTER_MAGIC, **AUDIO_MAGIC}.items():
        if data.startswith(magic):
            return media_type
    head = data[:64].lstrip().lower()
    is_svg = head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in data
    return "image/svg+xml" if is_svg else None


def require_media(data: bytes, modality: str, field: str, max_bytes: int) -> str:
    """Check that `data` is of `modality` ("image" or "audio") and at most `max_bytes`; its media type.

    Raises:
        PayloadTooLarge: More than `max_bytes` bytes.
        InvalidInput: Empty, or not of `modality` (an image sent as audio, say); the message names `field`.
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{field}: {len(data):,} bytes is more than the {max_bytes:,} accepted. Send a smaller file."
        )
    media_type = sniff_media_type(data)
    if media_type is None or not media_type.startswith(f"{modality}/"):
        found = f"{media_type} data" if media_type else "no known format"
        raise InvalidInput(
            f"{field}: expected {modality} ({', '.join(SUPPORTED[modality])}), found {found}. "
            f"Send {modality} in this field, or send the file in the input of its own modality."
        )
    return media_type


def decode_image(data: bytes, field: str, config: ImageConfig = DEFAULT_CONFIG) -> Image.Image:
    """An RGBA image from `data`, decoded within the bounds of `config`.

    Raises:
        PayloadTooLarge: The upload, the SVG or the declared raster is over its bound.
        InvalidInput: Not an image, or a damaged one (e.g. a truncated JPEG); the message names `field`.
    """
    if require_media(data, "image", field, config.max_bytes) == "image/svg+xml":
        return _render_svg(data, field, config)
    return _decode_raster(data, field, config)


def _decode_raster(data: bytes, field: str, config: ImageConfig) -> Image.Image:
    too_large = f"{field}: {{}} pixels is more than the {config.max_pixels:,} accepted. Send a smaller image."
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
            if width * height > config.max_pixels:
                raise PayloadTooLarge(too_large.format(f"{width}x{height}"))
            image.load()
            return image.convert("RGBA")
    except Image.DecompressionBombError as e:  # Pillow's own bound, met while reading the header
        raise PayloadTooLarge(too_large.format(f"over {Image.MAX_IMAGE_PIXELS * 2:,}")) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidInput(
            f"{field}: the image cannot be decoded ({e}); it may be truncated or damaged. Send the whole file."
        ) from e


def _render_svg(data: bytes, field: str, config: ImageConfig) -> Image.Image:
    if len(data) > config.max_svg_bytes:
        raise PayloadTooLarge(
            f"{field}: an SVG of {len(data):,} bytes is more than the {config.max_svg_bytes:,} accepted. "
            "Send a smaller drawing or a PNG."
        )
    import cairosvg

    data = _expand_plain_entities(data, field, config)
    try:
        png = cairosvg.svg2png(
            bytestring=data,
            output_width=config.svg_render,
            output_height=config.svg_render,
            unsafe=False,  # defusedxml parsing, no entities, only data: URLs fetched
        )
    except Exception as e:  # cairosvg raises defusedxml's, ElementTree's and its own errors
        raise InvalidInput(
            f"{field}: the SVG cannot be rendered ({type(e).__name__}: {e}). "
            "Send a self-contained SVG without entities or external references, or a PNG."
        ) from e
    return _decode_raster(png, field, config)


def _expand_plain_entities(data: bytes, field: str, config: ImageConfig) -> bytes:
    """`data` with a DOCTYPE of only plain text entities removed and those entities expanded, within bounds."""
    doctype = _DOCTYPE.search(data)
    if doctype is None:
        return data
    subset = doctype.group("subset")
    entities = {m.group("name"): m.group("value") for m in _PLAIN_ENTITY.finditer(subset)}
    if _PLAIN_ENTITY.sub(b"", subset).strip():
        return data  # anything else in the subset: left for defusedxml to refuse
    body = data[: doctype.start()] + data[doctype.end() :]
    grown = sum(body.count(b"&" + name + b";") * len(value) for name, value in entities.items())
    if len(body) + grown > config.max_svg_bytes:
        raise PayloadTooLarge(
            f"{field}: the SVG's entities expand to more than {config.max_svg_bytes:,} bytes. "
            "Send a drawing without entity expansion, or a PNG."
        )
    for name, value in entities.items():
        body = body.replace(b"&" + name + b";", value)
    return body


def square_rgb(image: Image.Image, config: ImageConfig = DEFAULT_CONFIG) -> Image.Image:
    """`image` composited onto the background, padded to a centred square, resized to `config.size`."""
    width, height = image.size
    side = max(width, height)
    grey = config.background
    canvas = Image.new("RGBA", (side, side), (grey, grey, grey, 255))
    canvas.alpha_composite(image.convert("RGBA"), ((side - width) // 2, (side - height) // 2))
    return canvas.convert("RGB").resize((config.size, config.size), Image.Resampling.BICUBIC)


def image_tensor(data: bytes, field: str = "image", config: ImageConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The tower's input (3, size, size) float32 from an image file's bytes: decode, square, normalise.

    Raises:
        PayloadTooLarge, InvalidInput: As `decode_image`.
    """
    rgb = np.asarray(square_rgb(decode_image(data, field, config), config), dtype=np.float32) / 255.0
    normalised = (rgb - np.asarray(config.mean, np.float32)) / np.asarray(config.std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))  # (3, H, W)
