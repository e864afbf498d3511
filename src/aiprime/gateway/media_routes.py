"""The media routes: `POST /v1/transcribe` (speech -> its words) and `POST /v1/search/image` (an image -> the
ranked ids of the stamps or texts nearest to it), for people and for the agents' tools.

Both are read routes, guarded like `/v1/search` by the permission `ask`, rate-limited and audited by the
middleware like every call. They run in the gateway's process (as the agents' python sandbox does): the bytes
come base64 in JSON, bounded by the gateway's body limit and then by `aiprime.multimodal.preprocess`, which
names the field in every 4xx (413 for a file over its bound, 400 for bytes that are not base64, of another
modality or damaged, 422 for sound that is not speech). Image search reads the store as the gateway's role (migration 0012 lets it
SELECT the retrieval tables) through the champion image-text link, loaded once per process.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from aiprime.errors import InvalidInput
from aiprime.gateway.auth import Caller
from aiprime.gateway.routes import ERRORS, require, runtime
from aiprime.multimodal.audio_preprocess import DEFAULT_AUDIO
from aiprime.multimodal.link import ImageTextLink
from aiprime.multimodal.preprocess import DEFAULT_CONFIG, require_media
from aiprime.settings import Settings

PERMISSION = "ask"  # the read half of the platform, as for /v1/search
Reader = Annotated[Caller, Depends(require(PERMISSION))]
router = APIRouter(responses=ERRORS, tags=["media"])
# Marks a field that carries a media file in base64 (JSON Schema's contentEncoding): the edge's WAF exempts the
# routes whose bodies hold one from its body rules and 8 KiB cap, as it does the binary uploads (modules/waf).
BASE64_MEDIA = {"contentEncoding": "base64"}


def _base64_chars(max_bytes: int) -> int:
    return -(-max_bytes // 3) * 4


class TranscribeRequest(BaseModel):
    """A spoken clip."""

    model_config = ConfigDict(extra="forbid")
    audio: str = Field(
        min_length=1,
        max_length=_base64_chars(DEFAULT_AUDIO.max_bytes),
        description="The audio file, base64: spoken English (WAV, Ogg, FLAC or MP3), up to 30 s.",
        json_schema_extra=BASE64_MEDIA,
    )


class Transcript(BaseModel):
    """What the clip said."""

    transcript: str
    seconds: float = Field(description="The clip's duration.")
    speech_seconds: float = Field(description="How much of it was judged speech.")


class ImageSearchRequest(BaseModel):
    """An image to search the store with."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(
        min_length=1,
        max_length=_base64_chars(DEFAULT_CONFIG.max_bytes),
        description="The image file, base64: PNG, JPEG, GIF, WebP or SVG.",
        json_schema_extra=BASE64_MEDIA,
    )
    modality: Literal["image", "text"] = Field(
        "image",
        description="What to find: similar images (the stamps) or text (glosses, FOLDOC, Python docs).",
    )
    top_k: int = Field(5, ge=1, le=50, description="How many hits.")


class MediaHit(BaseModel):
    """One hit, best first."""

    doc_id: str
    title: str
    source: str
    score: float


class ImageSearchResult(BaseModel):
    """The ranked hits."""

    hits: list[MediaHit]


def decoded(text: str, field: str) -> bytes:
    """The bytes of a base64 field; InvalidInput (400) naming the field otherwise."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(f"{field}: not base64 ({e}); send the file's bytes base64-encoded.") from e


@router.post("/v1/transcribe", summary="Transcribe spoken English")
async def transcribe(body: TranscribeRequest, _: Reader) -> Transcript:
    """The words of a spoken clip (silero-vad, then Whisper tiny.en); 422 for a clip that holds no speech."""
    from aiprime.multimodal.speech import transcribe as speech_to_text

    found = await run_in_threadpool(speech_to_text, decoded(body.audio, "audio"), "audio")
    return Transcript(transcript=found.text, seconds=found.seconds, speech_seconds=found.speech_seconds)


@router.post("/v1/search/image", summary="Search the store with an image")
async def search_image(body: ImageSearchRequest, request: Request, _: Reader) -> ImageSearchResult:
    """The stamps (or texts) nearest to the image through the champion image-text link; 503 while no link is
    registered (the Dagster job `media` trains one)."""
    from aiprime.serving.media_search import search_image as nearest

    data, settings = decoded(body.image, "image"), request.app.state.media_settings
    require_media(data, "image", "image", DEFAULT_CONFIG.max_bytes)  # names this field, before the tower
    link = request.app.state.media_link or await run_in_threadpool(champion_link, settings.mlflow_url)
    engine = runtime(request).engine
    hits = await run_in_threadpool(nearest, engine, data, body.modality, settings, body.top_k, link)
    return ImageSearchResult(
        hits=[MediaHit(doc_id=h.doc_id, title=h.title, source=h.source, score=h.score) for h in hits]
    )


@functools.cache
def champion_link(tracking_uri: str) -> ImageTextLink:
    """The champion image-text link, downloaded once per process (a new champion needs a restart)."""
    from aiprime.multimodal.training import load_link

    return load_link(tracking_uri)


def install(app: FastAPI, settings: Settings, link: ImageTextLink | None = None) -> None:
    """Serve the media routes from `app`; `link` replaces the registry's champion (tests)."""
    app.state.media_settings, app.state.media_link = settings, link
    app.include_router(router)
