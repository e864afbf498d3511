"""The generator's KServe model: the retriever's response (or questions with hits) in, grounded answers out.

Contract (kserve/graphs/README.md): one v1 record per question, `{...the retriever's record's other keys
(expert, domain), "question", "answer", "mode", "grounded", "support", "confidence", "set_aside",
"abstained_because", "citations", "unknown_citations", "abstained", "sources"}`. Every answer is checked before it is returned: a draft that
does not stand on the best passage becomes that passage quoted (`mode` extractive); below `--min_score` it
abstains without generating, and from a sense question below `--min_share`. The parsing and the answering are `aiprime.serving.generator`; v1 only.
"""

from __future__ import annotations

from typing import Any

from kserve import InferRequest

from aiprime.errors import InvalidInput
from aiprime.rag.generate import MIN_SENSE_SHARE
from aiprime.rag.generators import Generator, LlamaCppGenerator, OpenAICompatibleGenerator
from aiprime.serving.base_server import ServingModel
from aiprime.serving.generator import GeneratorRecord, answer_all, parse_request
from aiprime.serving.metrics import GeneratorMetrics


class GeneratorModel(ServingModel):
    """Writes an answer to each question from its retrieved passages, citing them."""

    def __init__(
        self, name: str, generator: Generator, *, min_score: float = 0.0, max_tokens: int = 64,
        max_in_flight: int = 0, min_share: float = MIN_SENSE_SHARE,
    ) -> None:  # fmt: skip
        """Create the generator model (not loaded): `generator` writes the answers, `min_score` is the
        best hit's score below which it abstains, `min_share` the chosen sense's share of a sense
        question's senses below which it abstains, `max_tokens` the longest answer."""
        super().__init__(name, max_in_flight=max_in_flight)
        self.generator = generator
        self.min_score = min_score
        self.min_share = min_share
        self.max_tokens = max_tokens
        self.answer_metrics = GeneratorMetrics()

    def load(self) -> bool:
        """Load SmolLM2's weights now, so that ready means ready (a remote generator needs nothing)."""
        if isinstance(self.generator, LlamaCppGenerator):
            self.generator.load()
        self.ready = True
        return self.ready

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> list[GeneratorRecord]:
        """Parse v1 records `{"question", "hits"}` or the retriever's response; v2 tensors are refused."""
        if isinstance(payload, InferRequest):
            raise InvalidInput(
                f"The generator takes v1 JSON at /v1/models/{self.name}:predict, e.g. "
                '{"instances": [{"question": "...", "hits": [...]}]}; v2 tensors have no meaning here.'
            )
        return parse_request(payload)

    async def predict(self, records: list[GeneratorRecord], headers: dict[str, str] | None = None) -> Any:
        """One answer record per question."""
        answers = await self.blocking(
            lambda: answer_all(
                records,
                self.generator,
                min_score=self.min_score,
                max_tokens=self.max_tokens,
                min_share=self.min_share,
            )
        )
        for record in answers["predictions"]:
            abstained = "abstained" if record["abstained"] else "generated"
            self.answer_metrics.answers.labels(record.get("mode", abstained)).inc()
        return answers

    def stop(self) -> None:
        """Free SmolLM2, or close the remote generator's connections, then stop."""
        if isinstance(self.generator, LlamaCppGenerator):
            self.generator.close()
        elif isinstance(self.generator, OpenAICompatibleGenerator):
            self.generator.client.close()
        super().stop()
