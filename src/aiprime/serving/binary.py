"""Media on the wire: the Open Inference Protocol's binary tensor extension, and v1 JSON with base64.

A v2 request with binary data is a JSON header of `Inference-Header-Content-Length` bytes followed by each
input's bytes in order; an input says how many are its own with `parameters.binary_data_size`. A file
travels as a BYTES tensor of shape [1]: a 4-byte little-endian length, then the file, so the request is the
file plus a small header (base64 inside JSON adds a third). KServe 0.21 parses the same layout; this module
parses it strictly, so a lying size or header is a 400 naming the field, not a silently shortened tensor.
Each input declares its modality by its name (`image`, `audio`) or `parameters.content_type`
(`image/png`, ...), and the bytes must be of that modality (`aiprime.multimodal.preprocess.require_media`).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiprime.errors import InvalidInput, PayloadTooLarge
from aiprime.multimodal.preprocess import DEFAULT_CONFIG, require_media

HEADER_LENGTH = "inference-header-content-length"  # lower-cased, as HTTP servers hand headers over
MAX_BODY_BYTES = 21_000_000  # the largest image (20 MB, preprocess.ImageConfig.max_bytes) plus a header
MAX_HEADER_BYTES = 64_000  # a JSON header describes tensors; it never carries them
ELEMENT_LENGTH = struct.Struct("<I")  # each BYTES element's length prefix
MODALITIES = ("image", "audio")


@dataclass(frozen=True)
class MediaInput:
    """One input of a request: its name, declared modality and the file's bytes."""

    name: str
    modality: str  # image or audio
    data: bytes = field(repr=False)


def encode_media_request(name: str, data: bytes, content_type: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a v2 binary request carrying one file as the BYTES input `name`."""
    raw = ELEMENT_LENGTH.pack(len(data)) + data
    header = {"inputs": [{"name": name, "datatype": "BYTES", "shape": [1],
                          "parameters": {"binary_data_size": len(raw), "content_type": content_type}}]}  # fmt: skip
    head = json.dumps(header, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    return head + raw, headers


def check_body_size(length: int | None, limit: int = MAX_BODY_BYTES) -> None:
    """PayloadTooLarge when a declared or read body length is over `limit` (checked before reading it)."""
    if length is not None and length > limit:
        raise PayloadTooLarge(
            f"Content-Length: {length:,} bytes is more than the {limit:,} accepted. Send a smaller file."
        )


def decode_binary_request(body: bytes, headers: Mapping[str, str]) -> list[MediaInput]:
    """The media inputs of a v2 request with the binary extension (or a plain JSON one, with base64 data).

    Raises:
        PayloadTooLarge: The body is over MAX_BODY_BYTES.
        InvalidInput: A header length, `binary_data_size` or BYTES length that does not fit the body,
            bytes left over, a datatype other than BYTES, or a file not of its input's modality.
    """
    check_body_size(len(body))
    header_length = _header_length(headers, len(body))
    header = _json_header(body[:header_length])
    inputs, offset = [], header_length
    for i, spec in enumerate(_inputs(header)):
        where = f"inputs[{i}]"
        if spec.get("datatype") != "BYTES":
            raise InvalidInput(
                f"{where}.datatype: {spec.get('datatype')!r}; send a file as BYTES, shape [1]."
            )
        if "data" in spec:
            data = _base64_element(spec["data"], f"{where}.data")
        else:
            size = _binary_size(spec, where, len(body) - offset)
            data, offset = _single_element(body[offset : offset + size], where), offset + size
        inputs.append(_media_input(spec, data, where))
    if offset != len(body):
        raise InvalidInput(
            f"{len(body) - offset:,} bytes follow the last input; the binary_data_size values must add up to "
            "the body after the JSON header."
        )
    return inputs


def decode_v1_request(payload: Any) -> list[MediaInput]:
    """The media of a v1 JSON request: `{"instances": [{"image": {"b64": "..."}}]}` (or `"audio"`)."""
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('instances: send {"instances": [{"image": {"b64": "<base64 of the file>"}}]}.')
    found = []
    for i, instance in enumerate(instances):
        keys = [k for k in MODALITIES if isinstance(instance, dict) and k in instance]
        if len(keys) != 1 or not isinstance(instance[keys[0]], dict) or "b64" not in instance[keys[0]]:
            raise InvalidInput(f'instances[{i}]: expected {{"image": {{"b64": "..."}}}} or {{"audio": ...}}.')
        where = f"instances[{i}].{keys[0]}.b64"
        data = _base64_element([instance[keys[0]]["b64"]], where)
        found.append(MediaInput(keys[0], keys[0], _require(data, keys[0], where)))
    return found


def _header_length(headers: Mapping[str, str], body_length: int) -> int:
    value = {k.lower(): v for k, v in headers.items()}.get(HEADER_LENGTH)
    if value is None:
        return body_length  # all JSON
    if not value.strip().isdigit() or not 0 < int(value) <= min(body_length, MAX_HEADER_BYTES):
        raise InvalidInput(
            f"Inference-Header-Content-Length: {value!r} must be the JSON header's length in bytes, at most "
            f"the body's {body_length:,} and {MAX_HEADER_BYTES:,}."
        )
    return int(value)


def _json_header(text: bytes) -> dict:
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(
            f"The JSON header is not valid JSON ({e}); check Inference-Header-Content-Length."
        ) from e
    if not isinstance(header, dict):
        raise InvalidInput('The JSON header must be an object with "inputs".')
    return header


def _inputs(header: dict) -> list[dict]:
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(s, dict) for s in inputs):
        raise InvalidInput(
            'inputs: send a list of tensors, e.g. [{"name": "image", "datatype": "BYTES", ...}].'
        )
    return inputs


def _binary_size(spec: dict, where: str, left: int) -> int:
    size = (spec.get("parameters") or {}).get("binary_data_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(
            f"{where}.parameters.binary_data_size: {size!r}; give the input's byte count, or data."
        )
    if size > left:
        raise InvalidInput(
            f"{where}.parameters.binary_data_size: {size:,} bytes, but only {left:,} follow in the body. "
            "Send the whole file, and its exact size."
        )
    return size


def _single_element(raw: bytes, where: str) -> bytes:
    """The one element of a BYTES tensor of shape [1]: a 4-byte little-endian length, then that many bytes."""
    if len(raw) < ELEMENT_LENGTH.size or ELEMENT_LENGTH.unpack_from(raw)[0] != len(raw) - ELEMENT_LENGTH.size:
        raise InvalidInput(
            f"{where}: a BYTES element is a 4-byte little-endian length and then that many bytes, and this "
            "input's binary_data_size must hold exactly one element."
        )
    return raw[ELEMENT_LENGTH.size :]


def _base64_element(data: Any, where: str) -> bytes:
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], str):
        raise InvalidInput(f"{where}: send one base64 string in a list, shape [1].")
    check_body_size(len(data[0]) * 3 // 4)
    try:
        return base64.b64decode(data[0], validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(f"{where}: not valid base64 ({e}).") from e


def _media_input(spec: dict, data: bytes, where: str) -> MediaInput:
    name = str(spec.get("name", ""))
    content_type = str((spec.get("parameters") or {}).get("content_type", ""))
    modality = content_type.split("/")[0] if content_type else name
    if modality not in MODALITIES:
        raise InvalidInput(
            f"{where}: name {name!r} and content_type {content_type!r} declare no modality; name the input "
            "image or audio, or set parameters.content_type (image/png, audio/wav, ...)."
        )
    return MediaInput(name, modality, _require(data, modality, where))


def _require(data: bytes, modality: str, where: str) -> bytes:
    require_media(data, modality, where, DEFAULT_CONFIG.max_bytes)
    return data
