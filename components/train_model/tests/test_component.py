"""train_model: the gate, an expert the plan names, the dense baseline; or the champion of one the plan keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from kfp import dsl

from aiprime.errors import InvalidInput
from aiprime.moe.dataset import all_classes
from aiprime.moe.experts import EXPERTS, GATE, domains
from aiprime.moe.networks import DenseBaseline, GateNet, active_parameters, build_model
from aiprime.moe.system import Member
from aiprime.training.registration import Lineage, register_candidate

pytestmark = pytest.mark.slow


def step(
    component,
    name: str,
    datasets: dict,
    plan: dsl.Artifact,
    mlflow_uri: str,
    model: dsl.Model,
    dense: dsl.Model | None = None,
) -> None:
    """Run the train_model step for `name` as its task would."""
    component("train_model")(
        name=name,
        train=datasets["train"],
        val=datasets["val"],
        plan=plan,
        mlflow_uri=mlflow_uri,
        model=model,
        dense=dense,
    )


def test_trains_a_gate_over_the_registered_domains(
    component, artifact, datasets, make_plan, plan_artifact
) -> None:
    decided = make_plan(gate=True)
    model = artifact(dsl.Model, "model")
    step(component, "gate", datasets, plan_artifact(decided), "unused", model)
    member = Member.load(Path(model.path))
    assert isinstance(member.module, GateNet) and member.classes == domains(EXPERTS)
    assert member.metadata["fingerprint"] == decided.fingerprints[GATE] and model.metadata["trained"] is True


def test_a_kept_gate_is_its_champion(
    component, artifact, datasets, splits, trained, make_plan, plan_artifact, tracking_uri: str
) -> None:
    register_candidate(tracking_uri, trained["gate"], splits["val"], Lineage("md5-test", "sha", "run"), "")
    model = artifact(dsl.Model, "model")
    step(component, "gate", datasets, plan_artifact(make_plan(gate=False)), tracking_uri, model)
    assert (Path(model.path) / "model.pt").read_bytes() == (trained["gate"] / "model.pt").read_bytes()
    assert model.metadata == {"role": "gate", "trained": False}


def test_upcycles_the_expert_from_the_runs_dense_model(
    component, artifact, datasets, trained, make_plan, plan_artifact
) -> None:
    decided = make_plan(train=("actions",))
    model = artifact(dsl.Model, "model")
    dense = dsl.Model(name="dense", uri=str(trained["dense"]))
    step(component, "actions", datasets, plan_artifact(decided), "unused", model, dense)
    member = Member.load(Path(model.path))
    assert member.metadata["domain"] == "actions" and member.classes == all_classes()
    assert member.metadata["dense"] == Member.load(trained["dense"]).metadata["fingerprint"]
    assert member.metadata["fingerprint"] == decided.fingerprints["actions"]
    assert model.metadata == {"role": "expert-actions", "expert": "actions", "trained": True}


def test_an_upcycled_expert_without_the_dense_model_is_refused_with_the_fix(
    component, artifact, datasets, make_plan, plan_artifact
) -> None:
    with pytest.raises(InvalidInput, match="train the dense model first"):
        step(
            component,
            "actions",
            datasets,
            plan_artifact(make_plan(train=("actions",))),
            "unused",
            model=artifact(dsl.Model, "model"),
        )


def test_a_kept_expert_is_its_champion(
    component, artifact, datasets, splits, trained, make_plan, plan_artifact, tracking_uri: str
) -> None:
    register_candidate(tracking_uri, trained["living"], splits["val"], Lineage("md5-test", "sha", "run"), "")
    model = artifact(dsl.Model, "model")
    step(component, "living", datasets, plan_artifact(make_plan(keep=("living",))), tracking_uri, model)
    assert (Path(model.path) / "model.pt").read_bytes() == (trained["living"] / "model.pt").read_bytes()
    assert model.metadata["trained"] is False


def test_trains_the_dense_baseline_over_every_lexname(
    component, artifact, datasets, make_plan, plan_artifact
) -> None:
    model = artifact(dsl.Model, "model")
    step(component, "dense", datasets, plan_artifact(make_plan()), "unused", model)
    member = Member.load(Path(model.path))
    assert isinstance(member.module, DenseBaseline) and member.classes == all_classes()
    path = build_model(EXPERTS[0].config(len(all_classes())))  # an expert path: the dense model plus routers
    routers = sum(block.moe.router.weight.numel() for block in path.blocks)
    assert active_parameters(member.module) == active_parameters(path) - routers
    assert model.metadata == {"role": "dense", "trained": True}
