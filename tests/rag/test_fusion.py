"""Fusion: weighted RRF and the convex combination on hand-computed cases; the choice on validation."""

from __future__ import annotations

import pytest

from aiprime.rag.fusion import GRID, Fusion, choose, completed, normalised

DENSE = [(1, 0.9), (2, 0.8), (3, 0.5)]
LEXICAL = [(3, 12.0), (4, 6.0), (1, 2.0)]


def test_weighted_rrf_matches_the_hand_computed_scores() -> None:
    fused = dict(Fusion("rrf", 0.25, k=10).fuse(DENSE, LEXICAL))

    assert fused[1] == pytest.approx(0.75 / 11 + 0.25 / 13)
    assert fused[3] == pytest.approx(0.75 / 13 + 0.25 / 11)
    assert fused[4] == pytest.approx(0.25 / 12)


def test_convex_fusion_mixes_min_max_normalised_scores() -> None:
    fused = Fusion("convex", 0.5).fuse(DENSE, LEXICAL)

    assert dict(normalised(LEXICAL)) == pytest.approx({3: 1.0, 4: 0.4, 1: 0.0})
    assert dict(fused) == pytest.approx({1: 0.5, 2: 0.375, 3: 0.5, 4: 0.2})
    assert [item for item, _ in fused][:2] == [1, 3]  # a tie keeps the order first seen: dense's


@pytest.mark.parametrize("method", ["rrf", "convex"])
def test_the_end_weights_are_the_arms_alone(method: str) -> None:
    assert [i for i, _ in Fusion(method, 0.0).fuse(DENSE, LEXICAL)][:3] == [1, 2, 3]
    assert [i for i, _ in Fusion(method, 1.0).fuse(DENSE, LEXICAL)][:3] == [3, 4, 1]


def test_the_choice_on_validation_is_never_worse_than_either_arm() -> None:
    pairs = [
        (DENSE, LEXICAL),
        ([(5, 1.0), (6, 0.5)], [(6, 3.0), (5, 1.0)]),
        ([(7, 0.7), (8, 0.6)], [(8, 4.0)]),
    ]
    relevant = [4, 6, 7]  # one query each arm answers first, one only lexical finds

    def reciprocal_rank(i: int, fused) -> float:
        ranked = [item for item, _ in fused]
        return 1.0 / (ranked.index(relevant[i]) + 1) if relevant[i] in ranked else 0.0

    chosen, best = choose(pairs, lambda i, fused: {"rr": reciprocal_rank(i, fused)})
    arms = [sum(reciprocal_rank(i, pair[side]) for i, pair in enumerate(pairs)) / 3 for side in (0, 1)]

    assert chosen in GRID
    assert best >= max(arms)
    assert best == pytest.approx(sum(reciprocal_rank(i, chosen.fuse(*p)) for i, p in enumerate(pairs)) / 3)


def test_a_fusion_that_loses_a_metric_to_the_better_arm_is_not_chosen_for_a_higher_mean() -> None:
    dense = [(1, 1.0), (2, 0.9), (3, 0.0)]
    lexical = [(3, 1.0), (2, 0.9), (1, 0.0)]  # an even mix puts 2 first, which neither arm does
    by_first = {1: {"a": 0.5, "b": 0.5}, 2: {"a": 0.45, "b": 0.9}, 3: {"a": 0.2, "b": 0.4}}

    chosen, best = choose([(dense, lexical)], lambda i, fused: by_first[fused[0][0]])

    assert Fusion("convex", 0.5).fuse(dense, lexical)[0][0] == 2  # mean 0.675, but "a" below dense's 0.5
    assert chosen.fuse(dense, lexical)[0][0] == 1 and best == pytest.approx(0.5)


def test_completing_a_list_merges_the_looked_up_scores_in_order() -> None:
    assert completed(LEXICAL, {2: 4.0, 3: 99.0}) == [
        (3, 12.0),
        (4, 6.0),
        (2, 4.0),
        (1, 2.0),
    ]  # 3 kept as ranked


def test_a_chunk_just_outside_one_list_is_not_scored_as_if_that_arm_never_matched_it() -> None:
    dense = [(1, 0.9), (2, 0.6), (3, 0.5)]  # 4 is dense's 4th: just past this list
    lexical = [(4, 10.0), (5, 9.0), (6, 1.0)]
    whole_dense, whole_lexical = (
        completed(dense, {4: 0.55, 5: 0.1, 6: 0.1}),
        completed(lexical, {1: 0, 2: 0, 3: 0}),
    )

    plain = [item for item, _ in Fusion("convex", 0.5).fuse(dense, lexical)]
    complete = [item for item, _ in Fusion("convex", 0.5, complete=True).fuse(whole_dense, whole_lexical)]

    assert plain[:2] == [1, 4]  # 4 tied with 1 at 0.5: dense's 0.55 was scored as 0
    assert complete[0] == 4 and str(Fusion("convex", 0.5, complete=True)) == "convex(w_lex=0.5, complete)"


def test_completed_fusions_are_tried_only_with_completed_lists() -> None:
    dense, lexical = [(1, 1.0), (2, 0.5)], [(2, 2.0), (3, 1.0)]
    whole = (completed(dense, {3: 0.9}), completed(lexical, {1: 0.0}))

    def first_is_3(i: int, fused) -> dict[str, float]:
        return {"hit": float(fused[0][0] == 3)}

    plain, _ = choose([(dense, lexical)], first_is_3)
    chosen, best = choose([(dense, lexical)], first_is_3, [whole])

    assert not plain.complete
    assert chosen.complete and best == 1.0  # only completed dense knows 3 is near: it then comes first
