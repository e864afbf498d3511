"""Training the mixture's models: model folders that name their role and classes, and what a run must train."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from aiprime.errors import InvalidInput
from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import all_classes
from aiprime.moe.experts import EXPERTS, GATE, domains
from aiprime.moe.networks import ExpertNet, active_parameters, build_model
from aiprime.moe.system import Member
from aiprime.training import planning

pytestmark = pytest.mark.slow


def test_each_model_folder_names_its_role_and_its_classes(tiny_models: dict[str, Path]) -> None:
    gate, dense = Member.load(tiny_models["gate"]), Member.load(tiny_models["dense"])
    assert gate.metadata["role"] == "gate" and gate.classes == domains(EXPERTS)
    assert gate.metadata["experts"] == [s.name for s in EXPERTS]
    assert dense.metadata["role"] == "dense" and dense.classes == all_classes()
    expert = Member.load(tiny_models["people_society"])
    assert expert.metadata["role"] == "expert" and expert.metadata["domain"] == "people_society"
    assert fitting.registry_role(expert.metadata) == "expert-people_society"
    assert expert.classes == all_classes() and isinstance(expert.module, ExpertNet)  # upcycled: every class
    # its domain's two lexnames x 24 rows, plus other domains' rows at its spec's share
    assert expert.metadata["history"]["train_rows"] == 48 + round(48 * EXPERTS[2].upcycling.other_share)


def test_the_experts_learn_their_domains_tiny_problem(
    tiny_models: dict[str, Path], tiny_splits: dict
) -> None:
    test = tiny_splits["test"].of_domain("living")
    member = Member.load(tiny_models["living"])
    predicted = np.asarray(member.classes)[member.probabilities(test.x).argmax(axis=1)]
    assert (predicted == test.lexname).mean() > 0.9, list(zip(predicted, test.lexname, strict=True))


def test_an_expert_without_rows_of_its_domain_is_refused_with_the_fix(
    tmp_path: Path, tiny_splits: dict
) -> None:
    train = tiny_splits["train"].where(tiny_splits["train"].domain != "living")
    with pytest.raises(InvalidInput, match="larger --limit"):
        fitting.train_expert(EXPERTS[0], train, tiny_splits["val"], tmp_path)


def test_the_dense_baseline_is_an_expert_path_less_its_routers() -> None:
    n_classes = len(all_classes())
    expert = build_model(EXPERTS[0].config(n_classes))
    routers = sum(block.moe.router.weight.numel() for block in expert.blocks)
    assert (
        active_parameters(build_model(fitting.dense_config(n_classes))) == active_parameters(expert) - routers
    )


def test_upcycled_and_scratch_experts_have_their_own_fingerprints_beside_one_dense_model() -> None:
    run = RunConfig()
    before = planning.run_fingerprints(EXPERTS, "md5|limit=0", run)
    scratch = tuple(dataclasses.replace(s, init="scratch") for s in EXPERTS)
    assert planning.run_fingerprints(scratch, "md5|limit=0", run)[planning.DENSE] == before[planning.DENSE]
    assert all(
        before[s.name] != planning.run_fingerprints(scratch, "md5|limit=0", run)[s.name] for s in EXPERTS
    )


def test_threads_do_not_change_a_runs_fingerprints_but_the_learning_rate_does() -> None:
    base = RunConfig(train=TrainConfig(num_threads=1))
    assert base.key() == dataclasses.replace(base, train=TrainConfig(num_threads=2)).key()
    assert base.key() != dataclasses.replace(base, train=TrainConfig(lr=0.5)).key()
    prints = planning.run_fingerprints(EXPERTS, "md5|limit=0", base)
    assert set(prints) == {GATE, planning.DENSE, *(s.name for s in EXPERTS)}
    assert prints != planning.run_fingerprints(EXPERTS, "other-md5|limit=0", base)


@pytest.mark.parametrize(("step_threads", "fit_threads"), [(2, 1), (4, 2), (1, 1), (0, None)])
def test_fits_running_side_by_side_split_a_steps_threads(step_threads: int, fit_threads: int | None) -> None:
    run = planning.run_config(max_epochs=3, lr=1e-3, seed=0, threads=step_threads)
    assert (
        run.train.num_threads == fit_threads
    )  # two fits of two threads on two cores spin against each other


def test_a_plan_round_trips_through_json() -> None:
    plan = planning.RunPlan(
        data_version="abc",
        limit=3,
        run=dataclasses.asdict(RunConfig(max_epochs=2)),
        fingerprints={GATE: "g", "living": "l"},
        gate=True,
        dense=False,
        train=("living",),
        keep=(),
        skip={"artifacts": "no rows"},
    )
    again = planning.RunPlan.from_json(plan.to_json())
    assert again == plan and again.run_config() == RunConfig(max_epochs=2) and again.experts == ["living"]
    assert planning.describe(plan)["trained"] == "gate,living"
