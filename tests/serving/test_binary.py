"""The binary tensor extension and v1 base64 for media: strict parsing, each bad input a 4xx naming the field."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from aiprime.errors import InvalidInput, PayloadTooLarge
from aiprime.serving.binary import decode_binary_request, decode_v1_request, encode_media_request

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24)


def png(side: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_file_round_trips_and_the_wire_adds_only_a_small_header():
    data = png(64)
    body, headers = encode_media_request("image", data, "image/png")
    (found,) = decode_binary_request(body, headers)
    assert found.modality == "image" and found.data == data
    assert len(body) - len(data) < 200  # the JSON header and the 4-byte length, not a third more


def test_headers_are_read_whatever_their_case():
    body, headers = encode_media_request("image", png(), "image/png")
    lower = {k.lower(): v for k, v in headers.items()}
    assert decode_binary_request(body, lower)[0].data == png()


def test_binary_data_size_larger_than_the_body_names_the_field():
    body, headers = encode_media_request("image", png(), "image/png")
    with pytest.raises(InvalidInput, match=r"inputs\[0\]\.parameters\.binary_data_size: .* only"):
        decode_binary_request(body[:-10], headers)


def test_bytes_left_after_the_inputs_are_refused():
    body, headers = encode_media_request("image", png(), "image/png")
    with pytest.raises(InvalidInput, match="follow the last input"):
        decode_binary_request(body + b"extra", headers)


@pytest.mark.parametrize("value", ["-1", "abc", "999999999"])
def test_a_lying_header_length_names_the_header(value):
    body, headers = encode_media_request("image", png(), "image/png")
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length"):
        decode_binary_request(body, {**headers, "Inference-Header-Content-Length": value})


def test_an_image_where_audio_was_declared_names_the_input():
    body, headers = encode_media_request("clip", png(), "audio/wav")
    with pytest.raises(InvalidInput, match=r"inputs\[0\]: expected audio .* found image/png"):
        decode_binary_request(body, headers)


def test_audio_where_an_image_was_declared_names_the_input():
    body, headers = encode_media_request("image", WAV, "image/png")
    with pytest.raises(InvalidInput, match=r"inputs\[0\]: expected image .* found audio/wav"):
        decode_binary_request(body, headers)


def test_a_50_mb_upload_is_413_before_parsing():
    body, headers = encode_media_request("image", png() + bytes(50_000_000), "image/png")
    with pytest.raises(PayloadTooLarge, match="Content-Length"):
        decode_binary_request(body, headers)


def test_an_undeclared_modality_is_refused():
    body, headers = encode_media_request("pixels", png(), "")
    with pytest.raises(InvalidInput, match="declare no modality"):
        decode_binary_request(body, headers)


def test_json_only_v2_and_v1_base64_carry_the_same_file():
    data = png()
    v2 = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(data).decode()]}
        ]
    }
    assert decode_binary_request(json.dumps(v2).encode(), {})[0].data == data
    v1 = {"instances": [{"image": {"b64": base64.b64encode(data).decode()}}]}
    assert decode_v1_request(v1)[0].data == data


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"instances": [{"image": {"b64": "not base64!"}}]}, r"instances\[0\]\.image\.b64"),
        ({"instances": [{"picture": {"b64": "AAAA"}}]}, r"instances\[0\]"),
        ({"rows": []}, "instances"),
    ],
)
def test_bad_v1_requests_name_the_field(payload, field):
    with pytest.raises(InvalidInput, match=field):
        decode_v1_request(payload)
