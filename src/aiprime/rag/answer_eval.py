"""Grounded answers measured end to end: retrieve as the retriever server does, answer, check again.

For each sampled question: hybrid search's top `RERANK_CANDIDATES` chunks, re-ordered by the re-ranker when
one is given, keep the best `k`; `generate.answer` answers from them (abstaining below `min_score`, checking
the draft and falling back to the quoted passage), and `grounding.groundedness` checks once more, apart,
that every answer shown cites only retrieved ids and is supported by them: `answers/shown_unsupported`
counts those that are not, and must be 0. `precision_coverage` shows what a stricter `min_score` buys.

`calibrate` picks `min_score` on validation questions: the top hit's score separates the questions whose
relevant document was retrieved from those whose was not; `calibrate_kinds` picks one per query kind, as
the retriever server applies them. `support_examples` and `calibrate_support` label
and calibrate the support measure itself (`grounding.MIN_OVERLAP`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from aiprime.rag import store
from aiprime.rag.embed import Embedder
from aiprime.rag.evaluate import doc_ids_by_chunk, sample_queries
from aiprime.rag.evaluate_kinds import queries_of
from aiprime.rag.generate import MIN_SENSE_SHARE, answer, chosen_passage, named_senses, sense_share
from aiprime.rag.generators import Generator
from aiprime.rag.grounding import calibrate_min_score, groundedness, is_echo, support
from aiprime.rag.query_kinds import KINDS
from aiprime.rag.search import ANSWER_K, RERANK_CANDIDATES, Hit, search

COVERAGE_POINTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)  # shares of answered questions kept

Rerank = Callable[[str, list[Hit], int], list[Hit]]  # (question, candidates, top_n) -> best first


def retrieve(
    engine: Engine, embedder: Embedder, question: str, k: int, rerank: Rerank | None, collection: str
) -> list[Hit]:
    """The `k` hits the retriever server would hand the generator for `question`."""
    pool = max(k, RERANK_CANDIDATES) if rerank else k
    return best(question, search(engine, question, embedder, k=pool, collection=collection), k, rerank)


def best(question: str, candidates: list[Hit], k: int, rerank: Rerank | None) -> list[Hit]:
    """The best `k` of `candidates`, re-ranked when a re-ranker is given."""
    return rerank(question, candidates, k) if rerank and candidates else candidates[:k]


def calibrate(
    engine: Engine,
    embedder: Embedder,
    queries: pd.DataFrame,
    *,
    k: int,
    rerank: Rerank | None,
    collection: str,
    hold_out: bool = False,
) -> tuple[float, dict[str, float]]:
    """`min_score` from `queries` (with `question` and `relevant`), and the figures it was chosen from.

    A query whose relevant document is among the `k` hits is answerable, one whose is not is unanswerable;
    with `hold_out` each query is also asked once more with its relevant document left out of the candidates,
    as if the store did not hold it: another unanswerable query, scored as a question about something the
    store lacks would be."""
    found, missed = [], []
    pool = max(k, RERANK_CANDIDATES) if rerank or hold_out else k
    for row in queries.itertuples(index=False):
        candidates = search(engine, row.question, embedder, k=pool, collection=collection)
        hits = best(row.question, candidates, k, rerank)
        (found if row.relevant in {h.doc_id for h in hits} else missed).append(top_score(hits))
        if hold_out:
            rest = [h for h in candidates if h.doc_id != row.relevant]
            missed.append(top_score(best(row.question, rest, k, rerank)))
    threshold = calibrate_min_score(found, missed) if found and missed else 0.0
    return threshold, {
        "calibration/questions": float(len(queries)),
        "calibration/relevant_retrieved": len(found) / max(len(queries), 1),
        "calibration/unanswerable_scored": float(len(missed)),
        "calibration/min_score": threshold,
        "calibration/answerable_kept": float(np.mean([s >= threshold for s in found])) if found else 0.0,
        "calibration/unanswerable_refused": float(np.mean([s < threshold for s in missed]))
        if missed
        else 0.0,
    }


def top_score(hits: list[Hit]) -> float:
    """The best score among the hits, as the generator abstains below it; 0 without hits."""
    return max((hit.score for hit in hits), default=0.0)


def calibrate_kinds(
    engine: Engine,
    embedder: Embedder,
    splits_dir: Path,
    n: int,
    *,
    seed: int = 0,
    rerank: Rerank | None,
    collection: str,
) -> tuple[dict[str, float], dict[str, float]]:
    """`calibrate` on `n` val queries of each query kind: kind -> `min_score`, and the figures (sense's under
    `calibration/`, another kind's under `calibration/<kind>/`). A kind without val queries in the store takes
    sense's threshold.

    40% of val sense questions miss their sense in the hits: those misses are the unanswerable sample. The
    other kinds' val queries retrieve their document 86-96% of the time, so their few misses say little about
    a question the store cannot answer; each of their queries is also asked with its document held out
    (`calibrate(hold_out=True)`)."""
    stored = stored_doc_ids(engine, collection)
    thresholds, figures = {}, {}
    for kind in KINDS:  # sense first
        queries = queries_of(splits_dir, kind, "val", n, seed, stored)
        threshold, found = calibrate(
            engine,
            embedder,
            queries,
            k=ANSWER_K,
            rerank=rerank,
            collection=collection,
            hold_out=kind != "sense",
        )
        thresholds[kind] = threshold if len(queries) else thresholds["sense"]
        prefix = "calibration/" if kind == "sense" else f"calibration/{kind}/"
        figures |= {prefix + key.removeprefix("calibration/"): value for key, value in found.items()}
    return thresholds, figures


def stored_doc_ids(engine: Engine, collection: str) -> set[str]:
    """The ids of the documents `collection` holds chunks of."""
    with engine.connect() as conn:
        return set(doc_ids_by_chunk(conn, store.collection_id(conn, collection)).values())


def evaluate_answers(
    engine: Engine,
    embedder: Embedder,
    queries: pd.DataFrame,
    generator: Generator | None,
    *,
    k: int = ANSWER_K,
    rerank: Rerank | None = None,
    min_score: float = 0.0,
    min_share: float = MIN_SENSE_SHARE,
    max_tokens: int = 64,
    collection: str,
) -> dict[str, float]:
    """`answer_figures` of `queries` answered by `generator` (None: extractive only); `seconds` times the
    answer and its check, `end_to_end_seconds` the retrieval and re-ranking too, each also in this
    process's CPU time (`cpu_*`: what a busy machine does not inflate, with single-threaded work)."""
    rows: list[dict[str, Any]] = []
    for row in queries.itertuples(index=False):
        start, start_cpu = time.perf_counter(), time.process_time()
        hits = retrieve(engine, embedder, row.question, k, rerank, collection)
        retrieved, retrieved_cpu = time.perf_counter(), time.process_time()
        given = answer(row.question, hits, generator, min_score=min_score, min_share=min_share,
                       max_tokens=max_tokens)  # fmt: skip
        done, done_cpu = time.perf_counter(), time.process_time()
        timing = {"seconds": done - retrieved, "end_to_end_seconds": done - start,
                  "cpu_seconds": done_cpu - retrieved_cpu, "end_to_end_cpu_seconds": done_cpu - start_cpu}  # fmt: skip
        rows.append(answer_row(given, hits, row.relevant) | timing)
    return answer_figures(rows) | precision_coverage(rows)


def answers_by_kind(
    engine: Engine,
    embedder: Embedder,
    splits_dir: Path,
    n: int,
    generator: Generator | None,
    *,
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
    rerank: Rerank | None = None,
    min_score: float | Mapping[str, float] = 0.0,
    min_share: float = MIN_SENSE_SHARE,
    collection: str,
) -> dict[str, dict[str, float]]:
    """`evaluate_answers` of `n` test questions of each query kind (`aiprime.rag.query_kinds`) whose relevant
    document is stored: kind -> its figures. `min_score` is one threshold for all, or one per kind."""
    stored = stored_doc_ids(engine, collection)
    return {
        kind: evaluate_answers(
            engine,
            embedder,
            queries_of(splits_dir, kind, "test", n, seed, stored),
            generator,
            rerank=rerank,
            min_score=min_score.get(kind, 0.0) if isinstance(min_score, Mapping) else min_score,
            min_share=min_share,
            collection=collection,
        )
        for kind in kinds
    }


def answer_row(given: Any, hits: list[Hit], relevant: str) -> dict[str, Any]:
    """One answer's figures: its mode, the independent re-check of what it shows, and what it cites."""
    shown = not given.abstained
    return {
        **groundedness(given, hits),
        "mode": given.mode,
        "abstained": given.abstained,
        "echo": shown and is_echo(given.text, given.question),
        "confidence": confidence_of(given, hits),
        "cites_relevant": relevant in given.citations,
        "retrieved_relevant": relevant in {h.doc_id for h in hits},
    }


def confidence_of(given: Any, hits: list[Hit]) -> float:
    """What a stricter threshold would act on: the answer's `confidence`, else the best hit's score."""
    if given.confidence is not None:
        return float(given.confidence)
    return top_score(hits)


def answer_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The means of `evaluate_answers`' per-question rows, as `answers/*` keys."""
    answered = [r for r in rows if not r["abstained"]]
    overlaps = [r["overlap"] for r in answered if r["overlap"] is not None]

    def share(test: Callable[[dict[str, Any]], Any], of: list[dict[str, Any]]) -> float:
        return float(np.mean([bool(test(r)) for r in of])) if of else 0.0

    return {
        "answers/questions": float(len(rows)),
        "answers/coverage": len(answered) / len(rows) if rows else 0.0,
        "answers/generated": share(lambda r: r.get("mode") == "generated", rows),
        "answers/extractive": share(lambda r: r.get("mode") == "extractive", rows),
        "answers/abstained": share(lambda r: r["abstained"], rows),
        "answers/shown_unsupported": float(sum(not r["grounded"] or r.get("echo", False) for r in answered)),
        "answers/retrieved_relevant": share(lambda r: r["retrieved_relevant"], rows),
        "answers/cited": share(lambda r: r["cited"], answered),
        "answers/grounded": share(lambda r: r["grounded"], answered),
        "answers/cites_relevant": share(lambda r: r["cites_relevant"], answered),
        "answers/overlap": float(np.mean(overlaps)) if overlaps else 0.0,
        "answers/seconds_p50": float(np.median([r["seconds"] for r in answered])) if answered else 0.0,
        **timing_p50s(answered),
    }


def timing_p50s(answered: list[dict[str, Any]]) -> dict[str, float]:
    """The median of each timing beyond `seconds` the rows carry (CPU time, end to end), as `answers/*_p50`."""
    keys = ("cpu_seconds", "end_to_end_seconds", "end_to_end_cpu_seconds")
    return {f"answers/{key}_p50": float(np.median([r[key] for r in answered]))
            for key in keys if answered and key in answered[0]}  # fmt: skip


def precision_coverage(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Precision (the cited passage is the relevant one) against coverage (the share of questions answered)
    as the threshold on the answers' `confidence` rises (a sense question's `sense_share`, else the best
    hit's score): the threshold that keeps each share of COVERAGE_POINTS of the answered ones."""
    answered = sorted((r for r in rows if not r["abstained"]), key=lambda r: -r["confidence"])
    figures: dict[str, float] = {}
    for point in COVERAGE_POINTS:
        kept = answered[: max(1, round(point * len(answered)))] if answered else []
        key = f"curve/coverage {len(kept) / max(len(rows), 1):.2f}"
        figures[f"{key} threshold"] = kept[-1]["confidence"] if kept else 0.0
        figures[f"{key} precision"] = float(np.mean([r["cites_relevant"] for r in kept])) if kept else 0.0
    return figures


def sense_choices(
    engine: Engine,
    embedder: Embedder,
    queries: pd.DataFrame,
    *,
    k: int = ANSWER_K,
    rerank: Rerank | None,
    min_score: float = 0.0,
    collection: str,
) -> pd.DataFrame:
    """Per sense question (`question`, `relevant`): the chosen passage's `sense_share` (`share`; 0 when the
    best hit scores below `min_score`, so it abstains whatever the share), whether it is the relevant one
    (`correct`) and how many of the `k` hits name the word (`senses`)."""
    rows = []
    for row in queries.itertuples(index=False):
        hits = retrieve(engine, embedder, row.question, k, rerank, collection)
        chosen = chosen_passage(row.question, hits) if hits else None
        share = sense_share(row.question, hits, chosen) if chosen else 0.0
        scored = bool(hits) and max(h.score for h in hits) >= min_score
        senses = len(named_senses(row.question.split('"')[1], hits))
        rows.append({"share": (share or 0.0) if scored else 0.0, "senses": senses,
                     "correct": bool(chosen and chosen.doc_id == row.relevant)})  # fmt: skip
    return pd.DataFrame(rows, columns=["share", "correct", "senses"])


def calibrate_share(choices: pd.DataFrame, precision: float) -> tuple[float, dict[str, float]]:
    """The lowest `sense_share` threshold at which the chosen passages kept (`share` >= it) are the relevant
    one for at least `precision` of them (answering as many as that allows), and its figures on `choices`.
    Above 0 (no sense of the word retrieved always abstains); 1.0 when no threshold reaches `precision`."""
    ranked = choices.sort_values("share", ascending=False, kind="stable")
    shares, correct = ranked.share.to_numpy(), ranked.correct.to_numpy(dtype=float)
    kept_precision = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    ends = [i for i in range(len(shares)) if kept_precision[i] >= precision and shares[i] > 0.0
            and (i + 1 == len(shares) or shares[i + 1] < shares[i])]  # fmt: skip
    threshold = float(shares[ends[-1]]) if ends else 1.0
    return threshold, share_figures(choices, threshold)


def share_figures(choices: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Coverage and precision of the sense questions `choices` answered at `threshold`."""
    kept = choices[(choices.share >= threshold) & (choices.share > 0.0)]
    return {
        "share/questions": float(len(choices)),
        "share/threshold": threshold,
        "share/coverage": len(kept) / max(len(choices), 1),
        "share/precision": float(kept.correct.mean()) if len(kept) else 0.0,
        "share/precision_all": float(choices.correct.mean()) if len(choices) else 0.0,
    }


def support_examples(splits_dir: Path, n: int, seed: int = 0, split: str = "val") -> pd.DataFrame:
    """Labelled examples for the support measure, from `n` `split` questions: an answer phrasing the relevant
    sense's gloss (label 1) or a confuser's (label 0: another sense of the same word, else another gloss),
    each checked against the relevant gloss as the passage it cites.

    Columns: question, answer, cited (the relevant gloss), label.
    """
    queries = sample_queries(splits_dir, n, seed, split=split)
    documents = pd.read_parquet(
        splits_dir / "documents.parquet", columns=["doc_id", "source", "title", "text"]
    )
    wordnet = documents[documents.source == "wordnet"].set_index("doc_id")
    senses = senses_by_lemma(wordnet.title)
    rng = np.random.default_rng(seed)
    rows = []
    for question, relevant in zip(queries.question, queries.relevant, strict=True):
        word = question.split('"')[1]
        confusers = [doc for doc in senses.get(word.lower(), []) if doc != relevant]
        other = confusers[0] if confusers else wordnet.index[rng.integers(len(wordnet))]
        cited = f"{wordnet.title[relevant]}\n{wordnet.text[relevant]}"
        for label, gloss in ((1, wordnet.text[relevant]), (0, wordnet.text[other])):
            rows.append({"question": question, "answer": f'Here "{word}" means {gloss}.', "cited": cited,
                         "label": label})  # fmt: skip
    return pd.DataFrame(rows)


def senses_by_lemma(titles: pd.Series) -> dict[str, list[str]]:
    """Lower-cased lemma -> the WordNet doc ids (the index of `titles`, `lemma, lemma`) naming it."""
    senses: dict[str, list[str]] = {}
    for doc_id, title in titles.items():
        for lemma in title.lower().split(", "):
            senses.setdefault(lemma, []).append(doc_id)
    return senses


def calibrate_support(examples: pd.DataFrame) -> tuple[float, dict[str, float]]:
    """The support threshold that best separates `support_examples`' labels, and how well it does."""
    scores = np.array([support(a, q, [c]) for q, a, c in zip(examples.question, examples.answer,
                                                              examples.cited, strict=True)])  # fmt: skip
    positive, negative = scores[examples.label.to_numpy() == 1], scores[examples.label.to_numpy() == 0]
    threshold = calibrate_min_score(positive, negative)
    return threshold, {
        "support/examples": float(len(examples)),
        "support/threshold": threshold,
        "support/supported_kept": float(np.mean(positive >= threshold)),
        "support/unsupported_refused": float(np.mean(negative < threshold)),
    }
