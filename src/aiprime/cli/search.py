"""`aiprime search`: cross-modal search of the store by text, an image or speech, printed as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from aiprime.cli.rag import _hits_table
from aiprime.cli.render import console
from aiprime.errors import InvalidInput, NotSpeech
from aiprime.multimodal.preprocess import DEFAULT_CONFIG
from aiprime.rag.embed import make_embedder
from aiprime.rag.search import Hit
from aiprime.rag.search import search as rag_search
from aiprime.services import stack
from aiprime.serving.media_search import Modality, search_image, search_text
from aiprime.settings import Settings


def read_image(path: Path, limit: int = DEFAULT_CONFIG.max_bytes) -> bytes:
    """At most `limit + 1` bytes of `path` (so an oversized file is refused without being read whole)."""
    try:
        with path.open("rb") as f:
            return f.read(limit + 1)
    except OSError as e:
        raise InvalidInput(
            f"--image {path}: cannot read it ({e.strerror}). Pass a PNG, JPEG, GIF, WebP or SVG file."
        ) from e


def heard(audio: Path) -> str:
    """The transcript of a spoken query (silero-vad, then Whisper tiny.en).

    Raises:
        InvalidInput: The file cannot be read; NotSpeech (422) when it holds no speech.
    """
    from aiprime.multimodal.audio_preprocess import DEFAULT_AUDIO
    from aiprime.multimodal.speech import transcribe

    try:
        with audio.open("rb") as f:
            data = f.read(DEFAULT_AUDIO.max_bytes + 1)
    except OSError as e:
        raise InvalidInput(
            f"--audio {audio}: cannot read it ({e.strerror}). Pass a WAV, Ogg, FLAC or MP3 recording."
        ) from e
    text = transcribe(data, field="--audio").text
    if not text:
        raise NotSpeech(
            f"--audio {audio}: speech was found but no words recognised; speak closer, or type it."
        )
    return text


def find(query: str | None, image: Path | None, modality: Modality, k: int, settings: Settings) -> list[Hit]:
    """Hits for a text query (a transcript too) or an image file; text -> text is the store's hybrid search."""
    if (query is None) == (image is None):
        raise InvalidInput(
            'Pass one of a text query, --image PATH or --audio PATH, e.g. `aiprime search "a red kite"`.'
        )
    data = read_image(image) if image is not None else None
    engine = stack.ready_app_db(settings)
    if data is not None:
        return search_image(engine, data, modality, settings, k=k)
    if modality == "text":
        return rag_search(engine, query, make_embedder(settings), k=k, collection=settings.rag_collection)
    return search_text(engine, query, modality, settings, k=k)


def search(
    query: Annotated[str | None, typer.Argument(help='What to look for, e.g. "a frog on a leaf".')] = None,
    image: Annotated[Path | None, typer.Option(help="Search by this image file instead of text.")] = None,
    audio: Annotated[
        Path | None, typer.Option(help="Search by what this recording says (spoken English, up to 30 s).")
    ] = None,
    modality: Annotated[
        str, typer.Option(help="What to find: text (glosses, FOLDOC, Python docs) or image (the stamps).")
    ] = "text",
    k: Annotated[int, typer.Option(help="Number of results.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ranked ids and scores as JSON.")] = False,
) -> None:
    """Search the store across modalities: text or speech -> text or images, an image -> text or similar images."""
    if modality not in ("text", "image"):
        raise InvalidInput(f"--modality {modality}: use text or image.")
    if audio is not None and (query is not None or image is not None):
        raise InvalidInput("Pass one of a text query, --image PATH or --audio PATH, not several.")
    transcript = heard(audio) if audio is not None else None
    hits = find(transcript or query, image, modality, k, Settings())
    shown = transcript or query or str(image)
    if as_json:
        ranked = [{"rank": r, "doc_id": h.doc_id, "score": round(h.score, 6), "title": h.title}
                  for r, h in enumerate(hits, start=1)]  # fmt: skip
        heard_as = {"transcript": transcript} if transcript is not None else {}
        print(json.dumps({"query": shown, **heard_as, "modality": modality, "results": ranked}))
    else:
        console.print(_hits_table(shown, hits))
