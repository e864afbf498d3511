"""MoESystem: the gate's choice decides the expert, top-2 mixes the first two, missing experts are masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiprime.errors import InvalidInput
from aiprime.moe.dataset import fine_classes
from aiprime.moe.experts import EXPERTS
from aiprime.moe.system import Member, MoESystem

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def system(tiny_models: dict[str, Path]) -> MoESystem:
    return MoESystem.from_folders(tiny_models["gate"], [tiny_models[s.name] for s in EXPERTS])


def test_top1_answers_with_the_class_of_the_gates_choice(system: MoESystem, tiny_splits: dict) -> None:
    x = tiny_splits["test"].x
    prediction = system.predict(x)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    chosen = np.asarray(system.expert_names)[prediction.probabilities.argmax(axis=1)]
    assert prediction.expert == chosen.tolist()
    domain_of = {s.name: s.domain for s in EXPERTS}
    for expert, fine in zip(prediction.expert, prediction.fine_class, strict=True):
        assert fine in fine_classes()[domain_of[expert]], (expert, fine)
    assert (np.asarray(prediction.fine_class) == tiny_splits["test"].lexname).mean() > 0.8


def test_top2_asks_the_first_two_choices_and_keeps_the_stronger_answer(
    system: MoESystem, tiny_splits: dict
) -> None:
    x = tiny_splits["test"].x[:10]
    top1, top2 = system.predict(x, top_k=1), system.predict(x, top_k=2)
    domain_of = {s.name: s.domain for s in EXPERTS}
    for experts, fine in zip(top2.experts, top2.fine_class, strict=True):
        assert len(experts) == 2 and any(fine in fine_classes()[domain_of[e]] for e in experts)
    first, second = np.sort(top1.probabilities, axis=1)[:, ::-1][:, :2].T
    floor = first / (first + second) * top1.fine_probability  # the first choice's answer, reweighted
    assert np.all(top2.fine_probability >= floor - 1e-6)


def test_an_expert_that_is_not_loaded_is_never_chosen(
    tiny_models: dict[str, Path], tiny_splits: dict
) -> None:
    partial = MoESystem.from_folders(tiny_models["gate"], [tiny_models["living"], tiny_models["actions"]])
    prediction = partial.predict(tiny_splits["test"].x, top_k=2)
    assert set(prediction.expert) <= {"living", "actions"}
    assert all(set(e) == {"living", "actions"} for e in prediction.experts)


def test_a_saved_system_loads_with_identical_answers(
    system: MoESystem, tiny_splits: dict, tmp_path: Path
) -> None:
    again = MoESystem.load(system.save(tmp_path / "system"))
    x = tiny_splits["val"].x
    np.testing.assert_array_equal(again.predict(x).probabilities, system.predict(x).probabilities)
    assert again.predict(x, 2).fine_class == system.predict(x, 2).fine_class


def test_an_expert_the_gate_does_not_know_is_refused(tiny_models: dict[str, Path]) -> None:
    gate = Member.load(tiny_models["gate"])
    with pytest.raises(InvalidInput, match="not outputs of the gate"):
        MoESystem(gate, {"geography": Member.load(tiny_models["living"])})


def test_bad_inputs_are_refused(system: MoESystem) -> None:
    with pytest.raises(InvalidInput, match="top_k"):
        system.predict(np.zeros((1, 384), dtype=np.float32), top_k=3)
    with pytest.raises(InvalidInput, match="384"):
        system.predict(np.zeros((1, 12), dtype=np.float32))


def test_texts_are_embedded_and_routed(system: MoESystem) -> None:
    prediction = system.predict(["a small domesticated dog", "to walk slowly"])
    assert len(prediction.fine_class) == 2 and prediction.probabilities.shape == (2, len(EXPERTS))
