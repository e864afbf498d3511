"""Ask the multimodal graph about an image (what `aiprime ask --image` shows).

The image travels as a v2 binary request (the file plus a small JSON header) to the router running
`kserve/graphs/rag-multimodal.yaml` (`aiprime serve --rag --media`), or `multimodal.yaml` without --rag. The
RAG graph answers the generator's record: the words the image was searched by (its top ImageNet synset's
lemmas), the image expert's domain, the answer and its citations; the plain multimodal graph answers the image
expert's record (the domains ranked and the top synsets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from aiprime.errors import InvalidInput, ServiceUnavailable
from aiprime.multimodal.preprocess import DEFAULT_CONFIG, require_media
from aiprime.serving.binary import encode_media_request


@dataclass(frozen=True)
class ImageAnswer:
    """What the graph answered for one image."""

    searched_for: str  # the words retrieval searched for: the top synset's lemmas
    domain: str  # the image expert's first choice (route name)
    probability: float  # its probability
    synsets: dict[str, float]  # the top synsets' lemmas -> probability
    reply: str | None = None  # the generator's answer (RAG graph only)
    citations: list[str] = field(default_factory=list)  # the retrieved doc ids it cites
    mode: str | None = None  # generated, extractive or abstained (RAG graph only)


def ask_image(data: bytes, router_url: str, timeout_s: float = 180.0) -> ImageAnswer:
    """Send one image file through the multimodal graph at `router_url`.

    Raises:
        InvalidInput: The file is not a supported image, or the graph refused it (4xx, its message quoted).
        ServiceUnavailable: The router does not answer, or answers a 5xx.
    """
    media_type = require_media(data, "image", "--image", DEFAULT_CONFIG.max_bytes)
    body, headers = encode_media_request("image", data, media_type)
    try:
        answer = httpx.post(router_url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise ServiceUnavailable(
            f"the router at {router_url} does not answer ({e}); start it with `aiprime serve --rag --media`."
        ) from e
    if not answer.is_success:
        error = InvalidInput if answer.status_code < 500 else ServiceUnavailable
        raise error(f"the graph answered {answer.status_code}: {answer.text[:400]}")
    return image_answer(answer.json()["predictions"][0])


def image_answer(record: dict[str, Any]) -> ImageAnswer:
    """An `ImageAnswer` from the generator's record (RAG graph) or the image expert's (multimodal graph).

    Raises:
        InvalidInput: The record is neither: the router does not run a multimodal graph.
    """
    if "scores" not in record or "expert" not in record:
        raise InvalidInput(
            f"the router's answer is not about an image ({str(record)[:200]}); serve a multimodal graph with "
            "`aiprime serve --rag --media`."
        )
    words = record.get("question") or record["instances"][0]
    return ImageAnswer(
        words, record["expert"], float(record["probability"]), dict(record["scores"]), record.get("answer"),
        list(record.get("citations") or []), record.get("mode"),
    )  # fmt: skip
