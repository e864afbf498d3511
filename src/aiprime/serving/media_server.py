"""An HTTP route that takes image files: v2 with the binary tensor extension, or v1 JSON with base64.

`media_app(model)` serves `POST /v2/models/{name}/infer` and `POST /v1/models/{name}:predict`. The body is
refused by its Content-Length before it is read (413), then parsed strictly (`aiprime.serving.binary`), and
each image goes to `model`, a function from one image file's bytes to named output vectors (the image
expert's domain scores, say). Every `AIPrimeError` is answered as `{"error": "..."}` with its HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aiprime.errors import AIPrimeError, InvalidInput
from aiprime.serving.binary import (
    MAX_BODY_BYTES,
    MediaInput,
    check_body_size,
    decode_binary_request,
    decode_v1_request,
)

ImageModel = Callable[[bytes], Mapping[str, np.ndarray]]  # one image file -> named output vectors


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, refused (413) by its Content-Length, or once more than `limit` bytes arrive."""
    declared = request.headers.get("content-length")
    check_body_size(int(declared) if declared and declared.isdigit() else None, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        check_body_size(len(body), limit)
    return bytes(body)


def _images(inputs: list[MediaInput]) -> list[MediaInput]:
    audio = [i.name for i in inputs if i.modality != "image"]
    if audio:
        raise InvalidInput(f"inputs {audio}: this model takes images (PNG, JPEG, GIF, WebP, SVG) only.")
    return inputs


def media_app(name: str, model: ImageModel) -> Starlette:
    """The ASGI app serving `model` under the model name `name`."""

    async def infer_v2(request: Request) -> JSONResponse:
        inputs = _images(decode_binary_request(await read_body(request), request.headers))
        outputs = [await run_in_threadpool(model, item.data) for item in inputs]
        tensors = [
            {"name": key, "datatype": "FP32", "shape": [len(outputs), len(vector)],
             "data": np.stack([o[key] for o in outputs]).astype(float).ravel().tolist()}
            for key, vector in outputs[0].items()
        ]  # fmt: skip
        return JSONResponse({"model_name": name, "outputs": tensors})

    async def predict_v1(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await read_body(request))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidInput(f'The body is not JSON ({e}); send {{"instances": [...]}}.') from e
        outputs = [await run_in_threadpool(model, item.data) for item in _images(decode_v1_request(payload))]
        return JSONResponse(
            {"predictions": [{k: v.astype(float).tolist() for k, v in o.items()} for o in outputs]}
        )

    async def error(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, AIPrimeError), e
        return JSONResponse({"error": str(e)}, status_code=e.http_status)

    routes = [
        Route(f"/v2/models/{name}/infer", infer_v2, methods=["POST"]),
        Route(f"/v1/models/{name}:predict", predict_v1, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={AIPrimeError: error})


def image_expert_model(wordnet_dir: Path) -> ImageModel:
    """The image expert as an `ImageModel`: the tower's domain scores (6,) of one image file."""
    from aiprime.multimodal.image_expert import domain_scores
    from aiprime.multimodal.image_tower import encode_images, split_outputs

    def model(data: bytes) -> dict[str, np.ndarray]:
        _, probabilities = split_outputs(encode_images([data]))
        return {"domain_scores": domain_scores(probabilities, wordnet_dir)[0]}

    return model
