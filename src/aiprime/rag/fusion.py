"""How hybrid search combines the dense and lexical rankings, chosen per query kind on validation questions.

Two families: weighted reciprocal rank fusion (score = (1 - w) / (k + dense rank) + w / (k + lexical rank))
and a convex combination of min-max normalised scores ((1 - w) * dense + w * lexical, a chunk missing from a
list scoring 0 there). Either can first complete the two lists (`complete`): every chunk of their union is
scored exactly by both arms (`aiprime.rag.search.completed_arms` looks the missing scores up), so a chunk
one arm ranked 51st is not scored like one it never matched. `GRID` holds all four with w from 0 (dense
alone) to 1 (lexical alone), so the fusion chosen on validation is never worse there than its better arm.
`FUSIONS` is what `bench/rag_quality.py` picked per kind (`aiprime.rag.query_kinds`); `search` uses it for
hybrid queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Ranking = list[tuple[int, float]]  # (chunk id, score), best first
Method = Literal["rrf", "convex"]
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
RRF_KS = (5, 20, 60)


@dataclass(frozen=True)
class Fusion:
    """One way to fuse a dense and a lexical ranking."""

    method: Method  # rrf: by ranks; convex: by min-max normalised scores
    weight: float  # the lexical ranking's share, 0..1
    k: int = 60  # the RRF constant (Cormack et al. 2009 use 60); unused by convex
    complete: bool = False  # fuse the two lists completed over their union (`completed`)

    def __str__(self) -> str:
        args = f"k={self.k}, w_lex={self.weight}" if self.method == "rrf" else f"w_lex={self.weight}"
        return f"{self.method}({args}{', complete' if self.complete else ''})"

    def fuse(self, dense: Ranking, lexical: Ranking) -> Ranking:
        """The fused ranking, best first; ties keep the order items were first seen (dense first)."""
        if self.method == "rrf":
            parts = [_rrf_scores(dense, self.k), _rrf_scores(lexical, self.k)]
        else:
            parts = [normalised(dense), normalised(lexical)]
        scores: dict[int, float] = defaultdict(float)
        for part, share in zip(parts, (1.0 - self.weight, self.weight), strict=True):
            for item, score in part:
                scores[item] += share * score
        return sorted(scores.items(), key=lambda pair: -pair[1])


def _rrf_scores(ranking: Ranking, k: int) -> Ranking:
    return [(item, 1.0 / (k + rank)) for rank, (item, _) in enumerate(ranking, start=1)]


def completed(ranking: Ranking, extra: Mapping[int, float]) -> Ranking:
    """`ranking` with the `extra` chunks and their scores merged in, best first (ties keep `ranking` first)."""
    seen = {item for item, _ in ranking}
    merged = list(ranking) + [(item, score) for item, score in extra.items() if item not in seen]
    return sorted(merged, key=lambda pair: -pair[1])


def normalised(ranking: Ranking) -> Ranking:
    """Scores min-max scaled to 0..1 within the list (all 1.0 when they are equal)."""
    if not ranking:
        return []
    low, high = min(s for _, s in ranking), max(s for _, s in ranking)
    span = high - low
    return [(item, (s - low) / span if span else 1.0) for item, s in ranking]


GRID: tuple[Fusion, ...] = tuple(
    [Fusion("rrf", w, k, c) for c in (False, True) for k in RRF_KS for w in WEIGHTS]
    + [Fusion("convex", w, complete=c) for c in (False, True) for w in WEIGHTS]
)
DEFAULT = Fusion("rrf", 0.5, 60)  # plain RRF: for a kind no validation chose for
# Chosen on val by `python bench/rag_quality.py --home H` on the full store of a fresh `make run` (147,278 chunks,
# int8 MiniLM; 2,000 val and 500 test queries per kind; store of 78f1620, fusions of ed62a4b). Every kind chose
# lists completed over their union; on test each scored at least its better arm on R@10, MRR@10 and nDCG@10
# (1.000-1.208x). Before completion code's convex(0.8) lost R@10 to BM25 by one query of 500 (0.964 against
# 0.966); rrf(k=20, 0.7) on completed lists scores 0.968.
FUSIONS: dict[str, Fusion] = {
    "sense": Fusion("convex", 0.3, complete=True),
    "definition": Fusion("convex", 0.6, complete=True),
    "keyword": Fusion("convex", 1.0, complete=True),  # BM25 over the union: dense only added noise on val
    "code": Fusion("rrf", 0.7, 20, complete=True),
}


def for_kind(kind: str) -> Fusion:
    """The fusion validation chose for `kind`, else plain RRF."""
    return FUSIONS.get(kind, DEFAULT)


def choose(
    pairs: Sequence[tuple[Ranking, Ranking]],
    score: Callable[[int, Ranking], Mapping[str, float]],
    complete_pairs: Sequence[tuple[Ranking, Ranking]] | None = None,
) -> tuple[Fusion, float]:
    """The fusion of GRID chosen on validation queries, and the mean of its metrics there.

    Hybrid must not lose to its better arm on any metric, so a fusion is first judged by its worst ratio to
    the better arm's mean (capped at 1: every metric at least the better arm's), then by the mean of its
    metrics; ties go to the earlier fusion (rrf before convex, lower weights first, plain lists before
    completed ones).

    Args:
        pairs: Each validation query's dense and lexical rankings.
        score: (query index, ranking) -> its metrics, e.g. recall@10, MRR@10 and nDCG@10 of distinct documents.
        complete_pairs: The same rankings completed over their union (`completed`); without them only the
            fusions of plain lists are tried.
    """
    floor = _arm_floor(pairs, score)
    best, best_key = DEFAULT, (float("-inf"), float("-inf"))
    for fusion in GRID:
        if fusion.complete and complete_pairs is None:
            continue
        lists = complete_pairs if fusion.complete else pairs
        means = _mean_metrics([score(i, fusion.fuse(d, lex)) for i, (d, lex) in enumerate(lists)])
        key = (round(_worst_ratio(means, floor), 12), round(sum(means.values()) / max(len(means), 1), 12))
        if key > best_key:
            best, best_key = fusion, key
    return best, best_key[1]


def _arm_floor(
    pairs: Sequence[tuple[Ranking, Ranking]], score: Callable[[int, Ranking], Mapping[str, float]]
) -> dict[str, float]:
    """Each metric's mean for the better of the two arms alone."""
    arms = [_mean_metrics([score(i, pair[side]) for i, pair in enumerate(pairs)]) for side in (0, 1)]
    return {name: max(arm[name] for arm in arms) for name in arms[0]}


def _mean_metrics(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    return {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]} if rows else {}


def _worst_ratio(means: Mapping[str, float], floor: Mapping[str, float]) -> float:
    """min over metrics of mean / floor, capped at 1 (a metric whose floor is 0 counts as 1)."""
    return min([1.0] + [means[name] / low for name, low in floor.items() if low > 0])
