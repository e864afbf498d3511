"""MoESystem: the gate's choice decides the expert, top-2 mixes the first two, missing experts are masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiprime.errors import InvalidInput
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
    for i, (expert, fine) in enumerate(zip(prediction.expert, prediction.fine_class, strict=True)):
        member = system.experts[expert]
        assert fine == member.classes[member.probabilities(x[i : i + 1]).argmax()], (expert, fine)
    assert (np.asarray(prediction.fine_class) == tiny_splits["test"].lexname).mean() > 0.8


def test_top2_sums_the_first_two_choices_answers_weighted_by_the_gate(
    system: MoESystem, tiny_splits: dict
) -> None:
    x = tiny_splits["test"].x[:10]
    top2 = system.predict(x, top_k=2)
    for i, experts in enumerate(top2.experts):
        weight = np.array([top2.probabilities[i, system.expert_names.index(e)] for e in experts])
        mixed = sum(
            w * system.experts[e].probabilities(x[i : i + 1])[0]
            for w, e in zip(weight / weight.sum(), experts)
        )  # upcycled experts share the dense model's classes
        assert len(experts) == 2 and top2.fine_class[i] == system.classes[mixed.argmax()]
        assert top2.fine_probability[i] == pytest.approx(mixed.max(), abs=1e-5)


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
