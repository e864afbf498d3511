"""Federated runs on Flower's Ray simulation engine: bad clients, SecAgg+ with a dropout, a privacy budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiprime.errors import InvalidInput
from aiprime.federated.config import FederatedConfig
from aiprime.federated.heads import Task
from aiprime.federated.runner import FederatedRun, run_federated

BASE = FederatedConfig(rounds=3, local_epochs=2, batch_size=16, round_timeout=15.0)


def received(record_dir: Path) -> list[np.ndarray]:
    """Every vector the server received."""
    return [np.load(p) for p in sorted(record_dir.glob("server-*.npy"))]


def sent(record_dir: Path, server_round: int) -> dict[int, np.ndarray]:
    """Each client's plain weights in `server_round`, before they were sent."""
    files = record_dir.glob(f"client-*-round-{server_round}.npy")
    return {int(p.name.split("-")[1]): np.load(p) for p in files}


def best_correlation(update: np.ndarray, vectors: list[np.ndarray]) -> float:
    """The highest |correlation| between `update` and a finite received vector of its length. A client's NaNs
    (refused by the server) correlate as NaN, and `max` keeps a NaN that comes first."""
    same = [v for v in vectors if len(v) == len(update) and np.isfinite(v).all()]
    return max((abs(float(np.corrcoef(update, v)[0, 1])) for v in same), default=0.0)


def weights_finite(run: FederatedRun, task: Task) -> bool:
    return all(bool(p.isfinite().all()) for p in run.model(task).parameters())


@pytest.fixture(scope="module")
def faulty_run(
    tmp_path_factory: pytest.TempPathFactory, small_task: Task, federated_venv: Path
) -> FederatedRun:
    """Round 1: client 0 sends NaNs, 1 weights of another shape, 2 another model version, 3 never answers."""
    work = tmp_path_factory.mktemp("faulty")
    faults = {"0": "nan", "1": "shape", "2": "version", "3": "silent"}
    config = FederatedConfig(**{**BASE.__dict__, "faults": faults, "record_dir": str(work / "record")})
    return run_federated(small_task, config, work / "run", venv=federated_venv)


def test_bad_updates_are_refused_and_the_round_goes_on(faulty_run: FederatedRun) -> None:
    first = faulty_run.result["rounds"][0]
    reasons = {r["partition"]: r["reason"] for r in first["refused"]}
    assert set(reasons) == {0, 1, 2}
    assert "non-finite" in reasons[0] and "shapes" in reasons[1] and "model version" in reasons[2]
    assert first["no_reply"] == 1, "the client that never answered is left out"
    assert sorted(first["accepted"]) == [4, 5, 6, 7, 8, 9]
    assert all(len(r["accepted"]) == 10 for r in faulty_run.result["rounds"][1:]), "they take part again"


def test_nothing_poisons_the_model(faulty_run: FederatedRun, small_task: Task) -> None:
    assert weights_finite(faulty_run, small_task)
    assert faulty_run.result["test"]["macro_f1"] > 0.5, faulty_run.result["test"]


def test_without_secure_aggregation_the_server_sees_each_update(faulty_run: FederatedRun) -> None:
    record = faulty_run.work.parent / "record"
    updates = sent(record, 2)
    accepted = faulty_run.result["rounds"][1]["accepted"]  # on a loaded machine a late one is left out
    assert len(updates) == 10 and len(accepted) >= 8, accepted
    assert all(best_correlation(updates[p], received(record)) > 0.999 for p in accepted)


@pytest.fixture(scope="module")
def secagg_run(
    tmp_path_factory: pytest.TempPathFactory, small_task: Task, federated_venv: Path
) -> FederatedRun:
    """SecAgg+ with 5 shares and threshold 4; client 3 drops out after the masks are set up in round 1."""
    work = tmp_path_factory.mktemp("secagg")
    config = FederatedConfig(**{**BASE.__dict__, "secagg": True, "shares": 5, "threshold": 4,
                                "faults": {"3": "dropout"}, "record_dir": str(work / "record")})  # fmt: skip
    return run_federated(small_task, config, work / "run", venv=federated_venv)


def test_secagg_survives_a_dropout_mid_round(secagg_run: FederatedRun, small_task: Task) -> None:
    first = secagg_run.result["rounds"][0]
    assert sorted(first["accepted"]) == [0, 1, 2, 4, 5, 6, 7, 8, 9] and not first.get("kept_model"), first
    assert first["failures"] >= 1, "the dropped client's error reached the server"
    assert weights_finite(secagg_run, small_task)
    assert secagg_run.result["test"]["macro_f1"] > 0.5, secagg_run.result["test"]


def test_secagg_server_never_holds_an_unmasked_update(secagg_run: FederatedRun) -> None:
    record = secagg_run.work.parent / "record"
    vectors = received(record)
    assert vectors, "the server received masked vectors"
    for server_round in range(1, 4):
        updates = sent(record, server_round)
        assert len(updates) >= 9
        for partition, update in updates.items():
            assert best_correlation(update, vectors) < 0.1, (
                f"client {partition}'s round-{server_round} update"
            )


def test_training_stops_when_the_budget_is_spent(
    tmp_path: Path, small_task: Task, federated_venv: Path
) -> None:
    config = FederatedConfig(**{**BASE.__dict__, "rounds": 5, "dp_noise": 2.0, "dp_epsilon": 3.0,
                                "dp_delta": 1e-3})  # fmt: skip
    run = run_federated(small_task, config, tmp_path / "run", venv=federated_venv)
    privacy = run.result["privacy"]
    assert 1 <= privacy["rounds_released"] < 5
    assert privacy["epsilon"] <= 3.0
    assert "privacy budget spent" in run.result["stop_reason"]
    assert abs(privacy["epsilon"] - privacy["epsilon_opacus"]) <= 0.02 * privacy["epsilon"]


def test_a_budget_one_round_would_pass_is_refused(
    tmp_path: Path, small_task: Task, federated_venv: Path
) -> None:
    config = FederatedConfig(**{**BASE.__dict__, "dp_noise": 0.3, "dp_epsilon": 0.5, "dp_delta": 1e-5})
    with pytest.raises(InvalidInput, match="raise dp_epsilon or dp_noise"):
        run_federated(small_task, config, tmp_path / "run", venv=federated_venv)


@pytest.fixture(scope="module")
def record_dp_run(
    tmp_path_factory: pytest.TempPathFactory, small_task: Task, federated_venv: Path
) -> FederatedRun:
    """Per-record DP-SGD in each organisation, at a fixed noise that spends the budget before round 5."""
    work = tmp_path_factory.mktemp("record-dp")
    config = FederatedConfig(**{**BASE.__dict__, "rounds": 5, "dp_unit": "record", "dp_noise": 1.5,
                                "dp_epsilon": 3.5, "dp_delta": 1e-3})  # fmt: skip
    return run_federated(small_task, config, work / "run", venv=federated_venv)


def test_record_dp_accounts_each_organisation_and_stops_when_spent(record_dp_run: FederatedRun) -> None:
    privacy, rounds = record_dp_run.result["privacy"], record_dp_run.result["rounds"]
    assert privacy["unit"] == "record" and privacy["delta"] == 1e-3
    organisations = privacy["per_organisation"]
    assert len(organisations) == 10
    assert all(o["epsilon"] <= 3.5 for o in organisations.values()), organisations
    assert privacy["epsilon"] == max(o["epsilon"] for o in organisations.values()) > 0
    assert abs(privacy["epsilon"] - privacy["epsilon_flower"]) <= 0.02 * privacy["epsilon"]
    assert "per-record privacy budgets spent" in record_dp_run.result["stop_reason"]
    assert not any(o["budget_left"] for o in organisations.values())
    # the smallest organisations spend their budget in round 1 and refuse round 2; the round goes on
    assert sum(len(r.get("accepted", [])) for r in rounds) < 5 * 10
    assert rounds[1]["failures"] >= 1 and rounds[1]["accepted"], rounds[1]


def test_record_dp_trains_a_finite_model(record_dp_run: FederatedRun, small_task: Task) -> None:
    assert weights_finite(record_dp_run, small_task)
    assert record_dp_run.result["test"]["macro_f1"] > 1 / len(small_task.classes), record_dp_run.result[
        "test"
    ]
