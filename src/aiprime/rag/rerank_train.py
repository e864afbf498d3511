"""Fine-tuning the cross-encoder re-ranker on the retrieval task, and registering it in MLflow.

Data: questions of every query kind (`aiprime.rag.query_kinds`): train-split sense questions
(`aiprime.rag.evaluate.sample_queries`), and for the built kinds, which have only val and test splits by
target document, val-split queries whose targets are not among the val queries held out for selection (the
test split is never seen). Each question gives a group of its relevant chunk and hard negatives: chunks that the real hybrid retriever ranks in its top `depth` for the question
(what the re-ranker meets at test time, mined from the database), and other senses of the same word (glosses
whose title lemmas share a lemma with the relevant one's), which a dictionary question must tell apart.
The loss is listwise (softmax cross-entropy of the positive within its group) plus pointwise binary
cross-entropy, which keeps the sigmoid a usable probability.

Selection: after each epoch the re-ranker re-orders the mined hybrid candidates of held-out val questions
of every kind; the epoch of best val MRR@10 is kept. Then, per query kind, the share of the re-ranker's
probability in a blend with the fused score (`aiprime.rag.rerank.blended`, from 0: the fused order, to 1:
the re-ranker alone) is chosen on the same val candidates and saved with the model. The test split is left to `aiprime rag eval`. The trained folder is logged
to the `aiprime-rag` experiment, registered as `aiprime-reranker` (alias `challenger`) and promoted to
`champion` when its val MRR beats the current champion's on the same val candidates.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sqlalchemy.engine import Engine

from aiprime.errors import DataSourceMissing, InvalidInput
from aiprime.rag import store
from aiprime.rag.embed import Embedder
from aiprime.rag.evaluate import doc_ids_by_chunk, rank_metrics, sample_queries
from aiprime.rag.ingest import DEFAULT_COLLECTION
from aiprime.rag.query_kinds import KINDS, built_queries, query_kind
from aiprime.rag.rerank import ROLE, Reranker, RerankerConfig, blended, new_reranker, save_reranker
from aiprime.rag.search import DEPTH, hydrate, ranking

if TYPE_CHECKING:
    from aiprime.registry.mlflow_registry import Promotion

EXPERIMENT = "aiprime-rag"  # MLflow experiment of the re-ranker's training runs
BLEND_SHARES = tuple(round(0.1 * i, 1) for i in range(11))  # the re-ranker's share, chosen per kind on val
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class RerankerTrainConfig:
    """How a re-ranker is fine-tuned; logged as the MLflow run's parameters."""

    train_queries: int = 1500  # train-split sense questions sampled; each gives one group
    kind_queries: int = 0  # val-split queries of each built kind trained on (targets disjoint from val's)
    val_queries: int = (
        150  # held-out val queries per kind for epoch and blend selection and the champion gate
    )
    depth: int = 30  # hybrid candidates mined per question (negatives at training, re-ranked at validation)
    negatives: int = 5  # negatives per group, next to its one positive
    sense_negatives: int = 2  # of which up to this many are other senses of the word, the rest hybrid hits
    epochs: int = 1  # passes over the groups
    batch_queries: int = 8  # groups per optimizer step: batch_queries * (1 + negatives) pairs
    lr: float = 2e-4  # AdamW peak learning rate: high for BERT, as the budget allows few steps
    weight_decay: float = 0.01  # AdamW, on the trained parameters
    warmup: float = 0.1  # fraction of the steps of linear warm-up; then linear decay to zero
    frozen_layers: int = 2  # the embeddings and this many lowest encoder layers keep MiniLM's weights
    bce_weight: float = 1.0  # weight of the pointwise loss that calibrates the sigmoid
    seed: int = 0  # query sampling, negative sampling, head init, dropout, shuffling
    threads: int = 2  # torch CPU threads


@dataclass(frozen=True)
class Candidates:
    """One question with the hybrid retriever's top chunks, in its order."""

    question: str
    relevant: str  # doc_id of the one relevant document
    doc_ids: tuple[str, ...]  # document of each candidate chunk
    contents: tuple[str, ...]  # each candidate chunk's stored content (title line, newline, body)
    scores: tuple[float, ...] = ()  # each candidate's fused retrieval score (empty: scored alike)

    @property
    def kind(self) -> str:
        """The question's kind by its form, as serving tells it (`query_kinds.query_kind`)."""
        return query_kind(self.question)


@dataclass(frozen=True)
class Group:
    """One training example: a question, its relevant chunk first, then its negatives."""

    question: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Senses:
    """WordNet glosses as stored chunks, and the other senses of each gloss's lemmas."""

    content: dict[str, str]  # doc_id -> chunk content
    by_lemma: dict[str, list[str]]  # lower-cased title lemma -> doc_ids

    @classmethod
    def from_splits(cls, splits_dir: Path) -> Senses:
        """Built from `documents.parquet` (its WordNet titles are the synsets' lemmas, comma-separated)."""
        path = splits_dir / "documents.parquet"
        if not path.is_file():
            raise DataSourceMissing(f"{path} not found. Build the data first: `aiprime data ingest`.")
        docs = pd.read_parquet(path, columns=["doc_id", "source", "title", "text"])
        docs = docs[docs.source == "wordnet"]
        content = {d: f"{t}\n{x.strip()}" for d, t, x in zip(docs.doc_id, docs.title, docs.text, strict=True)}
        by_lemma: dict[str, list[str]] = defaultdict(list)
        for doc_id, title in zip(docs.doc_id, docs.title, strict=True):
            for lemma in {part.strip().lower() for part in title.split(",")}:
                by_lemma[lemma].append(doc_id)
        return cls(content, dict(by_lemma))

    def others(self, doc_id: str) -> list[str]:
        """The contents of the other glosses that share a title lemma with `doc_id`, in doc_id order."""
        title = self.content[doc_id].split("\n", 1)[0]
        lemmas = {part.strip().lower() for part in title.split(",")}
        ids = sorted({other for lemma in lemmas for other in self.by_lemma.get(lemma, ()) if other != doc_id})
        return [self.content[other] for other in ids]


@dataclass(frozen=True)
class Trained:
    """A fine-tuned re-ranker, the folder it was saved in, its val candidates and its figures."""

    reranker: Reranker
    folder: Path
    val: list[Candidates]
    metrics: dict[str, float]  # val/hybrid_mrr, val/reranked_mrr, train/*, time/* (MLflow-safe keys)


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that reports nothing."""


def mine(
    engine: Engine,
    embedder: Embedder,
    queries: pd.DataFrame,
    depth: int,
    collection: str = DEFAULT_COLLECTION,
    ef_search: int = 100,
    on_progress: Progress = quiet,
) -> list[Candidates]:
    """The top `depth` chunks of hybrid retrieval (as `aiprime rag eval` ranks them) for each question."""
    vectors = np.asarray(embedder.embed(list(queries.question)), dtype=np.float32)  # (Q, dim)
    with engine.connect() as conn:
        cid = store.collection_id(conn, collection)
        store.check_dim(conn, vectors.shape[1], "The query vectors")
    mined = []
    for i, (question, relevant, vector) in enumerate(
        zip(queries.question, queries.relevant, vectors, strict=True)
    ):
        with engine.begin() as conn:
            store.set_search_params(conn, ef_search, iterative=True)
            hits = hydrate(conn, ranking(conn, cid, question, vector, "hybrid", max(DEPTH, depth))[:depth])
        mined.append(
            Candidates(
                question,
                relevant,
                tuple(h.doc_id for h in hits),
                tuple(h.content for h in hits),
                tuple(h.score for h in hits),
            )
        )
        on_progress("mining", i + 1, len(queries))
    return mined


def training_group(
    found: Candidates, senses: Senses, config: RerankerTrainConfig, rng: np.random.Generator
) -> Group | None:
    """The question's relevant chunk (its first retrieved one, else its WordNet gloss) and `config.negatives`
    negatives, or None when the relevant text is unknown or too few negatives exist."""
    positive = relevant_text(found, senses)
    if positive is None:
        return None
    hard = list(
        dict.fromkeys(c for d, c in zip(found.doc_ids, found.contents, strict=True) if d != found.relevant)
    )
    retrieved = set(hard)
    wordnet = found.relevant in senses.content
    other = [c for c in senses.others(found.relevant) if c not in retrieved] if wordnet else []
    n_other = min(config.sense_negatives, len(other), config.negatives)
    n_hard = min(config.negatives - n_other, len(hard))
    n_other = min(config.negatives - n_hard, len(other))  # fill up with senses when the hybrid list is short
    if n_hard + n_other < config.negatives:
        return None
    picked = [hard[i] for i in rng.choice(len(hard), n_hard, replace=False)]
    picked += [other[i] for i in rng.choice(len(other), n_other, replace=False)]
    return Group(found.question, (positive, *picked))


def relevant_text(found: Candidates, senses: Senses) -> str | None:
    """The relevant document's first chunk among the candidates, else its WordNet gloss, else None."""
    for doc_id, content in zip(found.doc_ids, found.contents, strict=True):
        if doc_id == found.relevant:
            return content
    return senses.content.get(found.relevant)


def training_groups(mined: Sequence[Candidates], senses: Senses, config: RerankerTrainConfig) -> list[Group]:
    """One group per mined question that has enough negatives, sampled with `config.seed`."""
    rng = np.random.default_rng(config.seed)
    groups = [training_group(found, senses, config, rng) for found in mined]
    kept = [group for group in groups if group is not None]
    if not kept:
        raise InvalidInput(
            f"None of {len(mined)} questions has a stored relevant gloss and {config.negatives} negatives. "
            "Ingest the documents (`aiprime rag ingest`) or lower --negatives."
        )
    return kept


def reranked_mrr(reranker: Reranker | None, val: Sequence[Candidates], k: int = 10) -> float:
    """Mean MRR@k over distinct documents of the candidates re-ordered by `reranker` alone (None: hybrid's
    order)."""
    probabilities = [probabilities_of(reranker, found) for found in val]
    return mean_mrr(val, probabilities, 1.0 if reranker is not None else 0.0, k)


def blended_mrr(
    reranker: Reranker,
    val: Sequence[Candidates],
    k: int = 10,
    probabilities: Sequence[np.ndarray] | None = None,
) -> float:
    """Mean MRR@k of the candidates ordered as serving orders them: blended by `reranker.blend` per kind
    (`probabilities`: the re-ranker's of each candidate, when already scored)."""
    scored = probabilities or [probabilities_of(reranker, found) for found in val]
    per_share = defaultdict(list)
    for found, p in zip(val, scored, strict=True):
        per_share[reranker.share(found.question)].append((found, p))
    total = sum(
        mean_mrr([f for f, _ in pairs], [p for _, p in pairs], share, k) * len(pairs)
        for share, pairs in per_share.items()
    )
    return total / max(len(val), 1)


def probabilities_of(reranker: Reranker | None, found: Candidates) -> np.ndarray:
    """The re-ranker's probability of each candidate (N,); zeros without a re-ranker."""
    if reranker is None or not found.contents:
        return np.zeros(len(found.contents))
    return reranker.score(found.question, found.contents)


def mean_mrr(val: Sequence[Candidates], probabilities: Sequence[np.ndarray], share: float, k: int) -> float:
    """Mean MRR@k of `val`'s candidates ordered by `share` * probability + (1 - share) * scaled fused score."""
    if not val:
        raise InvalidInput("No val questions to score; sample at least one (--val-queries).")
    per_query = []
    for found, p in zip(val, probabilities, strict=True):
        fused = found.scores or tuple(-float(i) for i in range(len(found.contents)))  # unscored: kept order
        order = np.argsort(-blended(p, fused, share), kind="stable") if found.contents else []
        docs = list(dict.fromkeys(found.doc_ids[i] for i in order))
        per_query.append(rank_metrics(docs, {found.relevant}, k)["mrr"])
    return float(np.mean(per_query))


def choose_blend(
    val: Sequence[Candidates], probabilities: Sequence[np.ndarray], k: int = 10
) -> dict[str, float]:
    """Per query kind of `val`, the re-ranker's share of BLEND_SHARES with the best val MRR@k given its
    `probabilities` of each candidate (ties: the smaller share, so a kind the re-ranker does not help keeps
    its fused order)."""
    by_kind = defaultdict(list)
    for found, p in zip(val, probabilities, strict=True):
        by_kind[found.kind].append((found, p))
    chosen = {}
    for kind, pairs in sorted(by_kind.items()):
        group, scored = [f for f, _ in pairs], [p for _, p in pairs]
        scores = [mean_mrr(group, scored, share, k) for share in BLEND_SHARES]
        chosen[kind] = BLEND_SHARES[int(np.argmax(np.asarray(scores) - 1e-9 * np.arange(len(scores))))]
    return chosen


def kind_figures(
    reranker: Reranker, val: Sequence[Candidates], probabilities: Sequence[np.ndarray], k: int = 10
) -> dict[str, float]:
    """`val/<kind>/hybrid_mrr`, `.../reranked_mrr` (the re-ranker alone), `.../blended_mrr` and `.../share`,
    from the re-ranker's `probabilities` of each val candidate."""
    figures = {}
    for kind in sorted({found.kind for found in val}):
        rows = [i for i, found in enumerate(val) if found.kind == kind]
        group, scored = [val[i] for i in rows], [probabilities[i] for i in rows]
        share = reranker.share(group[0].question)
        figures |= {
            f"val/{kind}/queries": float(len(group)),
            f"val/{kind}/hybrid_mrr": mean_mrr(group, scored, 0.0, k),
            f"val/{kind}/reranked_mrr": mean_mrr(group, scored, 1.0, k),
            f"val/{kind}/blended_mrr": mean_mrr(group, scored, share, k),
            f"val/{kind}/share": share,
        }
    return figures


def freeze(reranker: Reranker, frozen_layers: int) -> list[torch.nn.Parameter]:
    """Freeze the embeddings and the lowest `frozen_layers` encoder layers; the parameters left to train."""
    encoder = reranker.module.encoder
    layers = encoder.encoder.layer
    if not 0 <= frozen_layers <= len(layers):
        raise InvalidInput(f"frozen_layers={frozen_layers}; the encoder has {len(layers)} layers.")
    for module in (encoder.embeddings, *layers[:frozen_layers]):
        module.requires_grad_(False)
    return [p for p in reranker.module.parameters() if p.requires_grad]


def group_loss(reranker: Reranker, batch: Sequence[Group], bce_weight: float) -> torch.Tensor:
    """Listwise cross-entropy of each group's positive plus `bce_weight` times pointwise BCE, averaged."""
    questions = [group.question for group in batch for _ in group.texts]
    texts = [text for group in batch for text in group.texts]
    logits = reranker.module(**reranker.encode(questions, texts)).view(len(batch), -1)  # (G, 1 + negatives)
    labels = torch.zeros_like(logits)  # (G, 1 + negatives) the positive is column 0
    labels[:, 0] = 1.0
    listwise = F.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
    return listwise + bce_weight * F.binary_cross_entropy_with_logits(logits, labels)


def schedule(steps: int, warmup: float) -> Callable[[int], float]:
    """Learning-rate factor of a step: linear warm-up over `warmup` of the steps, then linear decay to 0."""
    ramp = max(1, round(steps * warmup))
    return lambda step: min((step + 1) / ramp, max(0.0, (steps - step) / max(1, steps - ramp)))


def optimizer_for(
    reranker: Reranker, config: RerankerTrainConfig, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the parameters left unfrozen, with warm-up then linear decay over `steps`."""
    optimizer = torch.optim.AdamW(
        freeze(reranker, config.frozen_layers), lr=config.lr, weight_decay=config.weight_decay
    )
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(steps, config.warmup))


def fit(
    reranker: Reranker,
    groups: Sequence[Group],
    val: Sequence[Candidates],
    config: RerankerTrainConfig,
    on_progress: Progress = quiet,
) -> tuple[list[dict[str, float]], list[np.ndarray]]:
    """Train in place and keep the weights of the epoch with the best val MRR; one row of figures per epoch,
    and that epoch's probability of each val candidate (so the blend is chosen without scoring val again)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    per_epoch = math.ceil(len(groups) / config.batch_queries)
    total = config.epochs * per_epoch
    optimizer, scheduler = optimizer_for(reranker, config, total)
    rng = np.random.default_rng(config.seed)
    history: list[dict[str, float]] = []
    best_state, best_mrr, best_probabilities = None, -1.0, []
    for epoch in range(config.epochs):
        shuffled = [groups[i] for i in rng.permutation(len(groups))]
        report = functools.partial(
            lambda done, step: on_progress("training", done + step, total), epoch * per_epoch
        )
        losses = train_epoch(reranker, shuffled, optimizer, scheduler, config, report)
        probabilities = [probabilities_of(reranker, found) for found in val]
        mrr = mean_mrr(val, probabilities, 1.0, 10)
        history.append(
            {
                "epoch": float(epoch + 1),
                "loss": float(np.mean(losses)),
                "val_mrr": mrr,
                "loss_first": float(np.mean(losses[:10])),
                "loss_last": float(np.mean(losses[-10:])),
            }
        )
        if mrr > best_mrr:
            best_state, best_mrr = copy.deepcopy(reranker.module.state_dict()), mrr
            best_probabilities = probabilities
    reranker.module.load_state_dict(best_state)
    reranker.module.eval()
    return history, best_probabilities


def train_epoch(
    reranker: Reranker,
    groups: Sequence[Group],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: RerankerTrainConfig,
    on_step: Callable[[int], object],
) -> list[float]:
    """One pass over `groups` in batches of `config.batch_queries`; the loss of each step."""
    reranker.module.train()
    losses = []
    for step, start in enumerate(range(0, len(groups), config.batch_queries), start=1):
        loss = group_loss(reranker, groups[start : start + config.batch_queries], config.bce_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        on_step(step)
    return losses


def mine_splits(
    engine: Engine,
    embedder: Embedder,
    splits_dir: Path,
    config: RerankerTrainConfig,
    collection: str,
    on_progress: Progress = quiet,
) -> tuple[list[Candidates], list[Candidates]]:
    """Hybrid candidates of the training questions and the held-out val questions (`kind_queries`)."""
    mined = []
    for split, queries in zip(
        ("train", "val"), kind_queries(engine, splits_dir, config, collection), strict=True
    ):
        report = functools.partial(
            lambda split, stage, done, total: on_progress(f"{stage} {split}", done, total), split
        )
        mined.append(mine(engine, embedder, queries, config.depth, collection, on_progress=report))
    return mined[0], mined[1]


def kind_queries(
    engine: Engine, splits_dir: Path, config: RerankerTrainConfig, collection: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and held-out val questions: sense questions of the train and val splits, and with
    `config.kind_queries`, val-split queries of each built kind, those trained on sharing no target with the
    held-out ones. Without them (`kind_queries=0`) only sense questions, as before."""
    train = [sample_queries(splits_dir, config.train_queries, config.seed, "train")]
    val = [sample_queries(splits_dir, config.val_queries, config.seed, "val")]
    if config.kind_queries:
        with engine.connect() as conn:
            stored = set(doc_ids_by_chunk(conn, store.collection_id(conn, collection)).values())
        for kind in KINDS[1:]:
            n = config.val_queries + config.kind_queries
            pool = built_queries(splits_dir, kind, "val", n, config.seed, stored)  # builds all: once per kind
            held = pool.head(config.val_queries)
            rest = pool.iloc[config.val_queries :]
            train.append(rest[~rest.relevant.isin(held.relevant)])
            val.append(held)
    columns = ["question", "relevant"]
    return tuple(pd.concat([f[columns] for f in frames], ignore_index=True) for frames in (train, val))


def train_reranker(
    engine: Engine,
    embedder: Embedder,
    splits_dir: Path,
    out_dir: Path,
    config: RerankerTrainConfig = RerankerTrainConfig(),
    model_config: RerankerConfig | None = None,
    collection: str = DEFAULT_COLLECTION,
    on_progress: Progress = quiet,
) -> Trained:
    """Mine candidates, fine-tune a re-ranker from MiniLM, select it on val and save it into `out_dir`."""
    start = time.perf_counter()
    train, val = mine_splits(engine, embedder, splits_dir, config, collection, on_progress)
    groups = training_groups(train, Senses.from_splits(splits_dir), config)
    mined_at = time.perf_counter()
    torch.manual_seed(config.seed)  # the head's initial weights
    reranker = new_reranker(model_config or RerankerConfig())
    history, probabilities = fit(reranker, groups, val, config, on_progress)  # val scored once, per epoch
    reranker = replace(reranker, blend=choose_blend(val, probabilities))
    fitted_at = time.perf_counter()
    metrics = {
        "val/hybrid_mrr": reranked_mrr(None, val),
        "val/reranked_mrr": max(row["val_mrr"] for row in history),
        "val/blended_mrr": blended_mrr(reranker, val, probabilities=probabilities),
        **kind_figures(reranker, val, probabilities),
        "train/groups": float(len(groups)),
        "train/pairs_per_epoch": float(len(groups) * (1 + config.negatives)),
        "train/loss_first": history[0]["loss_first"],
        "train/loss_last": history[-1]["loss_last"],
        "time/mining_s": mined_at - start,
        "time/training_s": fitted_at - mined_at,
    }
    metadata = {"train": asdict(config), "metrics": metrics, "history": history}
    save_reranker(reranker, out_dir, metadata)
    return Trained(reranker, out_dir, val, metrics)


def register_reranker(
    tracking_uri: str, trained: Trained, params: dict[str, object], tags: dict[str, str] | None = None
) -> Promotion:
    """Log the run to `aiprime-rag`, register the folder as `aiprime-reranker` and promote it on val MRR
    (blended per kind, as it serves).

    The current champion (if any) is scored on the same val candidates, so both scores are comparable.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from aiprime.rag.rerank import load_reranker
    from aiprime.registry import mlflow_registry as registry

    name, client = registry.registered_name(ROLE), MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment, run_name="reranker", tags={"role": ROLE} | (tags or {}))
    now, score = int(time.time() * 1000), trained.metrics["val/blended_mrr"]
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, now, 0) for k, v in trained.metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    has_champion = registry.version_for(tracking_uri, name, registry.CHAMPION) is not None
    before = blended_mrr(load_reranker(tracking_uri), trained.val) if has_champion else None
    registry.register(
        tracking_uri,
        name,
        trained.folder,
        run.info.run_id,
        {"role": ROLE, "val_mrr": f"{score:.6f}"} | (tags or {}),
    )
    client.set_terminated(run.info.run_id)
    return registry.promote(tracking_uri, name, score, before)
