"""The MLflow side of a run on a real (SQLite-backed) MLflow: lineage tags, the champion gate, reuse plans."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from aiprime.errors import ModelNotReady
from aiprime.moe import fitting
from aiprime.moe.experts import EXPERTS, GATE, gate_config
from aiprime.moe.networks import GateNet, save_model
from aiprime.moe.system import Member, MoESystem
from aiprime.registry import mlflow_registry as registry
from aiprime.training import planning
from aiprime.training.registration import Lineage, log_evaluation, register_candidate

pytestmark = pytest.mark.slow
LINEAGE = Lineage(data_version="md5-x", code_version="abc123", pipeline_run_id="run-1")


def retagged(folder: Path, dst: Path, **metadata: object) -> Path:
    """A copy of a model folder with extra metadata (e.g. the fingerprint a run would give it)."""
    member = Member.load(folder)
    save_model(member.module, dst / fitting.MODEL_FILE, member.metadata | metadata)
    return dst


def test_a_worse_challenger_stays_challenger(
    tracking_uri: str, tiny_models: dict, tiny_splits: dict, tmp_path: Path
) -> None:
    val = tiny_splits["val"]
    first = register_candidate(tracking_uri, tiny_models["gate"], val, LINEAGE, parent_run_id="")
    assert first.promoted and first.champion_before is None
    torch.manual_seed(0)
    untrained = save_model(
        GateNet(gate_config()),
        tmp_path / "bad" / fitting.MODEL_FILE,
        Member.load(tiny_models["gate"]).metadata,
    ).parent
    second = register_candidate(tracking_uri, untrained, val, LINEAGE, parent_run_id="")
    assert not second.promoted and "does not beat" in second.reason
    assert second.champion_score == pytest.approx(first.challenger_score), "the champion is rescored on val"
    name = registry.registered_name("gate")
    assert registry.version_for(tracking_uri, name, "champion") == first.challenger
    assert registry.version_for(tracking_uri, name, "challenger") == second.challenger
    tags = MlflowClient(tracking_uri).get_model_version(name, second.challenger).tags
    assert {k: tags[k] for k in ("data_version", "code_version", "pipeline_run_id")} == LINEAGE.tags()
    with pytest.raises(ModelNotReady, match="aiprime train"):
        MoESystem.from_registry(tracking_uri)  # a gate but no expert champion


def test_an_evaluation_run_holds_metrics_parameters_and_files(tracking_uri: str, tmp_path: Path) -> None:
    (tmp_path / "routing.png").write_bytes(b"png")
    run_id = log_evaluation(
        tracking_uri,
        {"system.accuracy": 0.9, "gate.macro_f1": math.nan},
        {"routing": tmp_path / "routing.png"},
        {"max_epochs": 3},
        LINEAGE,
    )
    client = MlflowClient(tracking_uri)
    run = client.get_run(run_id)
    assert run.data.metrics == {"system.accuracy": 0.9} and run.data.params == {"max_epochs": "3"}
    assert run.data.tags["data_version"] == "md5-x"
    assert [f.path for f in client.list_artifacts(run_id)] == ["routing.png"]


def test_adding_an_expert_trains_the_gate_and_the_newcomer_only(
    tracking_uri: str, tiny_models: dict, tiny_splits: dict, tiny_run, tmp_path: Path
) -> None:
    train, val = tiny_splits["train"], tiny_splits["val"]
    five = tuple(s for s in EXPERTS if s.name != "qualities")
    first = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, specs=five)
    assert first.gate and first.dense and first.train == tuple(s.name for s in five) and not first.keep
    for key in (GATE, planning.DENSE, *first.train):
        folder = retagged(tiny_models[key], tmp_path / "models" / key, fingerprint=first.fingerprints[key])
        assert register_candidate(tracking_uri, folder, val, LINEAGE, parent_run_id="").promoted

    unchanged = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, specs=five)
    assert (unchanged.gate, unchanged.dense, unchanged.train) == (False, False, ())
    grown = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, specs=EXPERTS)
    assert grown.gate and not grown.dense and grown.train == ("qualities",)
    assert grown.keep == tuple(s.name for s in five)
    assert planning.plan_run(train, val, tracking_uri, "md5-y", tiny_run, specs=five).train == first.train
    assert planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, retrain=True, specs=five).gate

    system = MoESystem.from_registry(tracking_uri)
    assert sorted(system.experts) == sorted(s.name for s in five)


def test_a_challenger_that_lost_is_not_trained_again_with_the_same_settings(
    tracking_uri: str, tiny_models: dict, tiny_splits: dict, tiny_run, tmp_path: Path
) -> None:
    train, val = tiny_splits["train"], tiny_splits["val"]
    old = planning.plan_run(train, val, tracking_uri, "md5-old", tiny_run)  # the champion's data version
    champion = retagged(tiny_models[GATE], tmp_path / "champion", fingerprint=old.fingerprints[GATE])
    assert register_candidate(tracking_uri, champion, val, LINEAGE, parent_run_id="").promoted
    new = planning.plan_run(train, val, tracking_uri, "md5-new", tiny_run)
    assert new.gate  # nothing was trained on md5-new yet
    torch.manual_seed(0)
    worse = save_model(
        GateNet(gate_config()),
        tmp_path / "worse" / fitting.MODEL_FILE,
        Member.load(tiny_models[GATE]).metadata | {"fingerprint": new.fingerprints[GATE]},
    ).parent
    assert not register_candidate(tracking_uri, worse, val, LINEAGE, parent_run_id="").promoted
    again = planning.plan_run(train, val, tracking_uri, "md5-new", tiny_run)
    assert not again.gate  # it was trained and gated on md5-new: the champion stays, nothing is retrained
    assert planning.plan_run(train, val, tracking_uri, "md5-new", tiny_run, retrain=True).gate


def test_experts_without_rows_are_left_out_of_the_plan(
    tracking_uri: str, tiny_splits: dict, tiny_run
) -> None:
    val = tiny_splits["val"].where(tiny_splits["val"].domain != "living")
    plan = planning.plan_run(tiny_splits["train"], val, tracking_uri, "md5-x", tiny_run)
    assert "living" in plan.skip and "living" not in plan.experts and len(plan.experts) == len(EXPERTS) - 1
