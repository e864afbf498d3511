"""The gate trains on sense questions besides the glosses: their version is in its fingerprint, their counts in
its metadata and in its registered MLflow run."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from aiprime.moe import fitting
from aiprime.moe.experts import GATE
from aiprime.moe.networks import save_model
from aiprime.moe.system import Member
from aiprime.registry import mlflow_registry as registry
from aiprime.training import planning
from aiprime.training.registration import Lineage, register_candidate

LINEAGE = Lineage(data_version="md5-x", code_version="abc123", pipeline_run_id="run-1")


def test_new_questions_retrain_the_gate_only(
    tracking_uri: str, tiny_models: dict, tiny_splits: dict, tiny_run, tmp_path: Path
) -> None:
    train, val = tiny_splits["train"], tiny_splits["val"]
    glosses = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run)
    first = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, questions_version="q1")
    assert first.fingerprints[GATE] != glosses.fingerprints[GATE] and first.questions_version == "q1"
    assert {k: v for k, v in first.fingerprints.items() if k != GATE} == {
        k: v for k, v in glosses.fingerprints.items() if k != GATE
    }
    champion = Member.load(tiny_models[GATE])
    fingerprinted = champion.metadata | {"fingerprint": first.fingerprints[GATE]}
    folder = save_model(champion.module, tmp_path / "gate-q1" / fitting.MODEL_FILE, fingerprinted).parent
    assert register_candidate(tracking_uri, folder, val, LINEAGE, parent_run_id="").promoted
    assert not planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, questions_version="q1").gate
    assert planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, questions_version="q2").gate


def test_the_trained_gate_records_its_questions_and_its_run_logs_them(
    tracking_uri: str, tiny_splits: dict, tiny_run, tmp_path: Path
) -> None:
    train, val = tiny_splits["train"], tiny_splits["val"]
    asked = (train.save(tmp_path / "q-train.npz"), val.save(tmp_path / "q-val.npz"))  # stand-ins, labelled
    splits = (train.save(tmp_path / "train.npz"), val.save(tmp_path / "val.npz"))
    plan = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run, questions_version="q1")
    out = tmp_path / "gate"
    made = planning.train_or_reuse(plan, GATE, *splits, tracking_uri, out, questions=asked)
    record = {"train": len(train), "val": len(val), "version": "q1"}
    assert made == {"role": "gate", "trained": True, "questions": record}
    member = Member.load(out)
    assert member.metadata["questions"] == record and member.metadata["calibration"]["val_rows"] == 2 * len(
        val
    )
    register_candidate(tracking_uri, out, val, LINEAGE, parent_run_id="")
    version = registry.version_for(tracking_uri, registry.registered_name("gate"), registry.CHALLENGER)
    run_id = MlflowClient(tracking_uri).get_model_version(registry.registered_name("gate"), version).run_id
    params = MlflowClient(tracking_uri).get_run(run_id).data.params
    assert params["questions.train"] == str(len(train)) and params["questions.version"] == "q1"


def test_without_questions_the_gate_trains_on_glosses(
    tracking_uri: str, tiny_splits: dict, tiny_run, tmp_path: Path
) -> None:
    train, val = tiny_splits["train"], tiny_splits["val"]
    splits = (train.save(tmp_path / "train.npz"), val.save(tmp_path / "val.npz"))
    plan = planning.plan_run(train, val, tracking_uri, "md5-x", tiny_run)
    made = planning.train_or_reuse(plan, GATE, *splits, tracking_uri, tmp_path / "gate")
    assert made["questions"] == {"train": 0, "val": 0, "version": ""}
    assert Member.load(tmp_path / "gate").metadata["calibration"]["val_rows"] == len(val)
