"""The image route over real HTTP on 127.0.0.1: v2 binary and v1 base64 give the image expert's same answer,
and bad input is a 4xx naming the field."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from _helpers.servers import AsgiServer, raw_request
from PIL import Image

from aiprime.serving.binary import encode_media_request
from aiprime.serving.media_server import image_expert_model, media_app
from aiprime.settings import Settings


@pytest.fixture(scope="module")
def server():
    settings = Settings(_env_file=None)
    if not (settings.wordnet_dir / "index.noun").is_file():
        pytest.skip(f"WordNet not found at {settings.wordnet_dir}: apt-get install wordnet-base")
    with AsgiServer(media_app("image-expert", image_expert_model(settings.wordnet_dir))) as running:
        yield running.url


def jpeg() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def test_binary_and_base64_requests_get_the_same_domain_scores(server):
    body, headers = encode_media_request("image", jpeg(), "image/jpeg")
    v2 = httpx.post(f"{server}/v2/models/image-expert/infer", content=body, headers=headers, timeout=60)
    assert v2.status_code == 200, v2.text
    (scores,) = v2.json()["outputs"]
    assert scores["name"] == "domain_scores" and scores["shape"] == [1, 6]
    assert sum(scores["data"]) == pytest.approx(1.0, abs=1e-4)

    v1 = httpx.post(f"{server}/v1/models/image-expert:predict", timeout=60,
                    json={"instances": [{"image": {"b64": base64.b64encode(jpeg()).decode()}}]})  # fmt: skip
    assert v1.status_code == 200, v1.text
    assert v1.json()["predictions"][0]["domain_scores"] == pytest.approx(scores["data"], abs=1e-6)


def test_binary_data_size_larger_than_the_body_is_400_naming_the_field(server):
    body, headers = encode_media_request("image", jpeg(), "image/jpeg")
    answer = httpx.post(f"{server}/v2/models/image-expert/infer", content=body[:-100], headers=headers)
    assert answer.status_code == 400
    assert "inputs[0].parameters.binary_data_size" in answer.json()["error"]


def test_an_image_where_audio_was_declared_is_400_naming_the_input(server):
    body, headers = encode_media_request("audio", jpeg(), "audio/wav")
    answer = httpx.post(f"{server}/v2/models/image-expert/infer", content=body, headers=headers)
    assert answer.status_code == 400
    assert "inputs[0]: expected audio" in answer.json()["error"]


def test_a_truncated_jpeg_is_400_naming_the_field(server):
    data = jpeg()[:300]
    answer = httpx.post(f"{server}/v1/models/image-expert:predict",
                        json={"instances": [{"image": {"b64": base64.b64encode(data).decode()}}]})  # fmt: skip
    assert answer.status_code == 400 and "images[0]" in answer.json()["error"]


def test_a_50_mb_upload_is_413_by_its_content_length_without_reading_it(server):
    head = (
        b"POST /v2/models/image-expert/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Inference-Header-Content-Length: 10\r\nContent-Length: 50000000\r\n\r\n"
    )
    answer = raw_request(server, head + b"x" * 1000)
    assert answer.startswith(b"HTTP/1.1 413") and b"Content-Length" in answer
