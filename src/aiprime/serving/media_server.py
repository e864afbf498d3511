"""HTTP routes that take image and audio files: v2 with the binary tensor extension, or v1 JSON with base64.

A request body is refused by its Content-Length before it is read (413), then parsed strictly
(`aiprime.serving.binary`) into a `MediaRequest`: the files it carries, or, when it carries none, its JSON
document (a text request, which the modality step passes on unchanged). `media_routes(name, handle)` serves
`POST /v1/models/{name}:predict` and `POST /v2/models/{name}/infer` with the same parsing on both, because an
InferenceGraph router posts a client's body, binary or not, to a model's v1 predict URL. The KServe servers
of `kserve/modality` and `kserve/image_expert` put these routes in front of KServe's own (`mount`), and
`media_app` serves them alone (the wire benchmark). Every `AIPrimeError` is answered as `{"error": "..."}`
with its HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aiprime.errors import AIPrimeError, InvalidInput
from aiprime.serving.binary import (
    HEADER_LENGTH,
    MAX_BODY_BYTES,
    MODALITIES,
    MediaInput,
    check_body_size,
    decode_binary_request,
    decode_v1_request,
)

ImageModel = Callable[[bytes], Mapping[str, np.ndarray]]  # one image file -> named output vectors


@dataclass(frozen=True)
class MediaRequest:
    """A request as the media servers read it: the files it carries, or its JSON document when it has none."""

    inputs: tuple[MediaInput, ...]  # images or audio clips, in request order; empty for a text request
    payload: Any = field(default=None, repr=False)  # the JSON document of a text request
    v2: bool = False  # it came to /v2/models/{name}/infer: answer v2 outputs

    def images(self) -> list[MediaInput]:
        """The request's images.

        Raises:
            InvalidInput: It carries audio or no file at all; the message names what is accepted.
        """
        others = [i.name for i in self.inputs if i.modality != "image"]
        if others or not self.inputs:
            raise InvalidInput(
                f"inputs {others or '(no file)'}: this model takes images (PNG, JPEG, GIF, WebP, SVG) only: "
                'v2 BYTES inputs named "image", or {"instances": [{"image": {"b64": "..."}}]}.'
            )
        return list(self.inputs)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, refused (413) by its Content-Length, or once more than `limit` bytes arrive."""
    declared = request.headers.get("content-length")
    check_body_size(int(declared) if declared and declared.isdigit() else None, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        check_body_size(len(body), limit)
    return bytes(body)


def read_media_request(body: bytes, headers: Mapping[str, str], v2: bool = False) -> MediaRequest:
    """The files of a binary or base64 request, or the JSON document of a request that carries none.

    Raises:
        PayloadTooLarge, InvalidInput: As `aiprime.serving.binary` (a lying size, a file of the wrong kind);
            InvalidInput also for a body that is neither JSON nor a v2 binary request.
    """
    if HEADER_LENGTH in {k.lower() for k in headers}:
        return MediaRequest(tuple(decode_binary_request(body, headers)), v2=v2)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(
            f"The body is not JSON ({e}); send JSON, or a v2 binary request with its "
            "Inference-Header-Content-Length header."
        ) from e
    if isinstance(payload, dict) and "inputs" in payload:
        return MediaRequest(tuple(decode_binary_request(body, headers)), v2=v2)  # v2 JSON, base64 data
    if _holds_media(payload):
        return MediaRequest(tuple(decode_v1_request(payload)), v2=v2)
    return MediaRequest((), payload, v2)


def _holds_media(payload: Any) -> bool:
    instances = payload.get("instances") if isinstance(payload, dict) else None
    return isinstance(instances, list) and any(
        isinstance(i, dict) and any(k in i for k in MODALITIES) for i in instances
    )


Handler = Callable[[MediaRequest, dict[str, str]], Awaitable[Any]]  # a parsed request, headers -> JSON


def media_routes(name: str, handle: Handler) -> list[Route]:
    """`POST /v1/models/{name}:predict` and `/v2/models/{name}/infer`, each parsing its body into a
    `MediaRequest` and answering `handle`'s JSON."""

    def endpoint(v2: bool) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def serve(request: Request) -> JSONResponse:
            headers = dict(request.headers)
            media = read_media_request(await read_body(request), headers, v2)
            return JSONResponse(await handle(media, headers))

        return serve

    return [
        Route(f"/v1/models/{name}:predict", endpoint(False), methods=["POST"]),
        Route(f"/v2/models/{name}/infer", endpoint(True), methods=["POST"]),
    ]


def mount(app: Starlette, model: Any) -> None:
    """Serve the `kserve.Model` `model` on `media_routes`, in front of the routes `app` already has or gets
    later (KServe adds its own when its server starts, and the first matching route answers)."""

    async def handle(media: MediaRequest, headers: dict[str, str]) -> Any:
        response, _ = await model(media, headers)  # KServe's Model.__call__: (response, response headers)
        return response

    app.router.routes[:0] = media_routes(model.name, handle)


async def error_response(_: Request, e: Exception) -> JSONResponse:
    """An `AIPrimeError` as `{"error": "..."}` with its HTTP status (what KServe's servers answer)."""
    assert isinstance(e, AIPrimeError), e
    return JSONResponse({"error": str(e)}, status_code=e.http_status)


def media_app(name: str, model: ImageModel) -> Starlette:
    """An ASGI app serving `model` (one image file -> named vectors) under the model name `name`."""

    async def handle(media: MediaRequest, _: dict[str, str]) -> dict[str, Any]:
        outputs = [await run_in_threadpool(model, item.data) for item in media.images()]
        if not media.v2:
            return {"predictions": [{k: v.astype(float).tolist() for k, v in o.items()} for o in outputs]}
        tensors = [
            {"name": key, "datatype": "FP32", "shape": [len(outputs), len(vector)],
             "data": np.stack([o[key] for o in outputs]).astype(float).ravel().tolist()}
            for key, vector in outputs[0].items()
        ]  # fmt: skip
        return {"model_name": name, "outputs": tensors}

    return Starlette(routes=media_routes(name, handle), exception_handlers={AIPrimeError: error_response})


def image_expert_model(wordnet_dir: Path) -> ImageModel:
    """The image expert's domain scores (6,) of one image file, as an `ImageModel`."""
    from aiprime.multimodal.image_expert import domain_scores
    from aiprime.multimodal.image_tower import encode_images, split_outputs

    def model(data: bytes) -> dict[str, np.ndarray]:
        _, probabilities = split_outputs(encode_images([data]))
        return {"domain_scores": domain_scores(probabilities, wordnet_dir)[0]}

    return model
