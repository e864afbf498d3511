"""Drift detection with a real shift: verb-only traffic against the training mix of glosses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aiprime.db.engine import connect
from aiprime.drift import detect
from aiprime.drift.report import write_report
from aiprime.drift.requests import LoggedRequest, log_requests, recent_requests
from aiprime.errors import InvalidInput
from aiprime.moe.embeddings import embed_texts


@pytest.fixture(scope="module")
def traffic(subset_splits, embedding_cache):
    """Embedded real glosses: a training-like reference, a same-mix window, and a verbs-only window."""
    table = pd.read_parquet(subset_splits / "classification.parquet", columns=["text", "domain"])
    mixed = table.sample(360, random_state=0)
    verbs = table[(table.domain == "actions") & ~table.index.isin(mixed.index)].head(100)
    emb = embed_texts([*mixed.text, *verbs.text], cache_dir=embedding_cache)  # (460, 384)
    return {
        "reference": (emb[:240], list(mixed.domain[:240])),
        "same": (emb[240:360], list(mixed.domain[240:])),
        "verbs": (emb[360:], list(verbs.domain)),
    }


@pytest.mark.slow
def test_verb_only_traffic_is_drift_and_the_same_mix_is_not(traffic, tmp_path) -> None:
    ref, ref_routes = traffic["reference"]
    shifted = detect.detect_drift(ref, *traffic["verbs"][:1], ref_routes, traffic["verbs"][1])
    same = detect.detect_drift(ref, *traffic["same"][:1], ref_routes, traffic["same"][1])
    assert shifted.drifted and shifted.mmd_p_value < 0.01 and shifted.chi2_p_value < 1e-6
    assert not same.drifted, same
    report = write_report(
        shifted, ref, traffic["verbs"][0], ref_routes, traffic["verbs"][1], tmp_path / "r.html"
    )
    assert "AI Prime drift verdict: DRIFT" in report.read_text()


def test_mmd_is_zero_in_expectation_for_one_distribution_and_positive_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(80, 4)), rng.normal(size=(80, 4)), rng.normal(1.0, size=(80, 4))
    gamma = detect.median_gamma(np.concatenate([x, z]))
    assert abs(detect.mmd2_rbf(x, y, gamma)) < 0.02 < detect.mmd2_rbf(x, z, gamma)


def test_routing_chi_square_on_a_hand_computed_case() -> None:
    # reference shares (add-one): a 3/6, b 3/6 -> expected 5, 5 of 10; observed 9, 1 -> chi2 = 16/5 + 16/5
    statistic, _ = detect.routing_test(["a", "a", "b", "b"], ["a"] * 9 + ["b"])
    assert statistic == pytest.approx(6.4)


def test_too_few_requests_say_to_wait() -> None:
    with pytest.raises(InvalidInput, match="Wait for more traffic"):
        detect.detect_drift(np.zeros((30, 4)), np.zeros((5, 4)), ["a"] * 30, ["a"] * 5)


def test_the_request_log_round_trips_a_window(app_db_url) -> None:
    engine = connect(app_db_url)
    rng = np.random.default_rng(0)
    logged = [LoggedRequest("gate", rng.normal(size=384).astype(np.float32), f"e{i}", 0.5) for i in range(5)]
    log_requests(engine, logged)
    embeddings, routes = recent_requests(engine, limit=3)
    assert routes == ["e2", "e3", "e4"]
    assert np.allclose(embeddings[-1], logged[-1].embedding, atol=1e-6)
    with pytest.raises(InvalidInput, match="shape"):
        log_requests(engine, [LoggedRequest("gate", np.zeros(10, dtype=np.float32), "x", 1.0)])
