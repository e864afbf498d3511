"""The modality step's KServe model: the multimodal graph's first step, which reads the client's body as sent.

Text passes on unchanged; speech becomes its transcript (silero-vad, then faster-whisper tiny.en), which the
text path reads like a typed question; other sound is a 422 naming what is understood; an image is marked
for the graph's next step, which sends the original body to the image expert
(`aiprime.serving.media_models.modality_answer`). It takes v2 binary, v2 JSON and v1 JSON bodies on both
`/v1/models/NAME:predict` and `/v2/models/NAME/infer` (`aiprime.serving.media_server.mount`), and answers v1
JSON: its answer is the next step's request.
"""

from __future__ import annotations

import functools
from typing import Any

from aiprime.multimodal.speech import SpeechConfig, load_vad, load_whisper, transcribe
from aiprime.serving.base_server import ServingModel
from aiprime.serving.media_models import modality_answer
from aiprime.serving.media_server import MediaRequest


class ModalityModel(ServingModel):
    """Tells text, images and audio apart, and transcribes speech."""

    def __init__(self, name: str, speech: SpeechConfig, *, max_in_flight: int = 0) -> None:
        """Create the model (not loaded); `speech` sets the VAD threshold and Whisper's threads."""
        super().__init__(name, max_in_flight=max_in_flight)
        self.speech = speech

    def load(self) -> bool:
        """Load silero-vad and Whisper tiny.en once, before the first request."""
        load_vad()
        load_whisper(self.speech.threads)
        self.ready = True
        return self.ready

    async def predict(self, request: MediaRequest, headers: dict[str, str] | None = None) -> Any:
        """The request as the graph's next step reads it (see the module docstring)."""
        heard = functools.partial(transcribe, config=self.speech)
        return await self.blocking(modality_answer, request, heard)
