"""What the multimodal graph's two media servers answer: the modality step and the image expert.

The multimodal InferenceGraphs (`kserve/graphs/multimodal.yaml`, `rag-multimodal.yaml`) start with the
`modality` step, which reads the client's body as it was sent (text JSON, v1 base64, v2 binary):

- text: the request's JSON, unchanged, so the text path (gate, experts, ...) gets exactly what it gets today;
- speech: `{"instances": [<transcript>, ...], "modality": "audio", "transcripts": [...]}`, which the text
  path reads like a typed question;
- other sound: `NotSpeech` (422), naming every kind of input that is understood;
- images: `{"predictions": [{"modality": "image"}]}`, on which the graph's next step (condition
  `predictions.#(modality=="image")`) sends the client's original body to the `image-expert`.

The image expert answers one record per image, shaped like an expert's record so that the RAG graph's
retriever reads it: the image's domains ranked (ImageNet synset -> lexicographer class -> domain), its top
synsets, and as `instances` the top synset's lemmas, which retrieval searches for. It says
`"confident": false`, so the retriever prefers no domain: the image expert's domain is right for about half
of the Tux Paint stamps (0.513, README "Images"), too few to narrow a search by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiprime.errors import InvalidInput, NotSpeech
from aiprime.serving.binary import MediaInput
from aiprime.serving.media_server import MediaRequest
from aiprime.serving.names import route_name

MODALITY = "modality"  # the graph's first step: tells text, images and audio apart, transcribes speech
IMAGE_EXPERT = "image-expert"  # image -> ImageNet synsets -> lexicographer class -> domain
#: The media servers, declared once: serviceName -> the model server folder kserve/<folder>/ that serves it.
MEDIA_SERVERS = {MODALITY: "modality", IMAGE_EXPERT: "image_expert"}
IMAGE_CONDITION = 'predictions.#(modality=="image")'  # what the graph's image step waits for
TEXT_CONDITION = "instances"  # the modality step's answer for text and speech: the text path's request


def image_record(data: bytes, wordnet_dir: Path) -> dict[str, Any]:
    """The image expert's record for one image file (see the module docstring).

    Raises:
        PayloadTooLarge, InvalidInput: The file is over a bound or not a decodable image (`images[0]`).
    """
    from aiprime.data.domains import DOMAINS
    from aiprime.multimodal.image_expert import domain_scores, synset_words, top_synsets
    from aiprime.multimodal.image_tower import encode_images, split_outputs

    _, probabilities = split_outputs(encode_images([data]))  # (1, 1000)
    scores = domain_scores(probabilities, wordnet_dir)[0]  # (6,)
    order = np.argsort(-scores, kind="stable")
    synsets = top_synsets(probabilities[0], wordnet_dir)
    experts = [route_name(DOMAINS[i]) for i in order]
    return {
        "modality": "image",
        "expert": experts[0],
        "experts": experts,
        "probabilities": [round(float(scores[i]), 6) for i in order],
        "probability": round(float(scores[order[0]]), 6),
        "confident": False,
        "label": synsets[0]["lexname"],
        "scores": {", ".join(s["lemmas"]): s["probability"] for s in synsets},
        "synsets": synsets,
        "instances": [synset_words(synsets)],
    }


def image_v2_outputs(name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A v2 answer of image records: `probabilities` FP32 [N, 6] (in DOMAINS order) and `expert` BYTES [N]."""
    from aiprime.data.domains import DOMAINS

    by_route = [dict(zip(r["experts"], r["probabilities"], strict=True)) for r in records]
    table = [[row[route_name(d)] for d in DOMAINS] for row in by_route]
    return {"model_name": name, "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [len(records), len(DOMAINS)],
         "data": [p for row in table for p in row]},
        {"name": "expert", "datatype": "BYTES", "shape": [len(records)], "data": [r["expert"] for r in records]},
    ]}  # fmt: skip


def modality_answer(request: MediaRequest, transcribe: Any) -> Any:
    """What the modality step answers (see the module docstring); `transcribe` is `speech.transcribe`.

    Raises:
        InvalidInput: The request mixes images and audio.
        NotSpeech: A clip holds no speech; the message names what is understood.
    """
    if not request.inputs:
        return request.payload
    kinds = sorted({item.modality for item in request.inputs})
    if len(kinds) > 1:
        raise InvalidInput(f"inputs mix {kinds}; send one kind of input per request.")
    if kinds == ["image"]:
        return {"predictions": [{"modality": "image", "images": len(request.inputs)}]}
    transcripts = [_transcript(item, i, transcribe) for i, item in enumerate(request.inputs)]
    return {"instances": [t["text"] for t in transcripts], "modality": "audio", "transcripts": transcripts}


def _transcript(item: MediaInput, index: int, transcribe: Any) -> dict[str, Any]:
    from aiprime.multimodal.preprocess import SUPPORTED
    from aiprime.multimodal.speech import SUPPORTED_SOUND

    where = f"inputs[{index}] ({item.name})"
    understood = (
        f"This service understands text, images ({', '.join(SUPPORTED['image'])}) and {SUPPORTED_SOUND}."
    )
    try:
        heard = transcribe(item.data, where)
    except NotSpeech as e:
        raise NotSpeech(f"{e} {understood}") from e
    if not heard.text:
        raise NotSpeech(f"{where}: speech was detected but no words were recognised. {understood}")
    return {
        "text": heard.text,
        "seconds": round(heard.seconds, 3),
        "speech_seconds": round(heard.speech_seconds, 3),
    }
