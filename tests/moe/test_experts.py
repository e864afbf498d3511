"""The expert registry: one expert per domain, and adding one retrains only the gate and the newcomer."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from aiprime.data.domains import DOMAINS
from aiprime.errors import ConfigError
from aiprime.moe import experts
from aiprime.moe.experts import (
    EXPERTS,
    GATE,
    ExpertSpec,
    build_expert,
    domains,
    gate_config,
    manifest,
    plan_training,
)

CLASSES = {spec.domain: (f"{spec.domain}.a", f"{spec.domain}.b") for spec in EXPERTS}
NEW = ExpertSpec("geography", domain="geography")
CLASSES_WITH_NEW = CLASSES | {"geography": ("living.b",)}  # a domain carved from classes the dense model has
SCRATCH = tuple(dataclasses.replace(spec, init="scratch") for spec in EXPERTS)


def test_registry_has_one_expert_per_data_domain() -> None:
    assert sorted(domains(EXPERTS)) == sorted(DOMAINS)
    assert gate_config(EXPERTS).n_domains == len(DOMAINS)


def test_an_unchanged_registry_trains_nothing() -> None:
    plan = plan_training(EXPERTS, CLASSES, manifest(EXPERTS, CLASSES))
    assert (plan.gate, plan.train) == (False, ()) and len(plan.keep) == len(EXPERTS)


def test_adding_a_spec_trains_only_the_gate_and_the_new_expert() -> None:
    before = manifest(EXPERTS, CLASSES)
    grown = (*EXPERTS, NEW)
    plan = plan_training(grown, CLASSES_WITH_NEW, before)
    assert plan.gate and plan.train == ("geography",)
    assert plan.keep == tuple(s.name for s in EXPERTS)
    after = manifest(grown, CLASSES_WITH_NEW)
    assert {k: v for k, v in after.items() if k not in (GATE, "geography")} == {
        k: v for k, v in before.items() if k != GATE
    }
    assert gate_config(grown).n_domains == len(EXPERTS) + 1


def test_adding_a_spec_leaves_the_other_experts_initial_weights_unchanged() -> None:
    spec = EXPERTS[0]
    alone = build_expert(spec, n_classes=2, seed=0).state_dict()
    torch.manual_seed(123)  # the global RNG state must not matter either
    new = build_expert(NEW, n_classes=2, seed=0)
    again = build_expert(spec, n_classes=2, seed=0).state_dict()
    assert all(torch.equal(alone[k], again[k]) for k in alone)
    assert not torch.equal(new.state_dict()["proj.weight"], again["proj.weight"])


def test_changing_one_scratch_experts_classes_retrains_that_expert_only() -> None:
    changed = CLASSES | {"living": ("noun.animal", "noun.plant", "noun.body")}
    plan = plan_training(SCRATCH, changed, manifest(SCRATCH, CLASSES))
    assert (plan.gate, plan.train) == (False, ("living",))


def test_a_new_dense_model_retrains_every_upcycled_expert_and_no_scratch_one() -> None:
    mixed = (*EXPERTS[:3], *SCRATCH[3:])
    plan = plan_training(mixed, CLASSES, manifest(mixed, CLASSES, dense="dense-1"), dense="dense-2")
    assert plan.train == tuple(s.name for s in EXPERTS[:3]) and plan.keep == tuple(
        s.name for s in SCRATCH[3:]
    )
    assert not plan_training(mixed, CLASSES, manifest(mixed, CLASSES, dense="dense-1"), dense="dense-1").train


def test_upcycled_experts_answer_every_class_and_scratch_ones_their_domains() -> None:
    assert EXPERTS[0].upcycled and EXPERTS[0].classes(CLASSES) == tuple(
        sorted(c for v in CLASSES.values() for c in v)
    )
    assert SCRATCH[0].classes(CLASSES) == CLASSES[SCRATCH[0].domain]
    assert EXPERTS[0].fingerprint(CLASSES["living"]) != SCRATCH[0].fingerprint(CLASSES["living"])


def test_two_experts_for_one_domain_are_rejected() -> None:
    twin = dataclasses.replace(EXPERTS[0], name="living-2")
    with pytest.raises(ConfigError, match="one expert per domain"):
        domains((*EXPERTS, twin))


def test_a_new_gate_shape_retrains_the_gate_and_no_expert(monkeypatch: pytest.MonkeyPatch) -> None:
    before = manifest(EXPERTS, CLASSES)
    monkeypatch.setattr(experts, "GATE_SHAPE", {"n_inputs": 1, "d_hidden": 256})  # the gate before words
    plan = plan_training(EXPERTS, CLASSES, before)
    assert plan.gate and plan.train == () and gate_config(EXPERTS).n_inputs == 1
