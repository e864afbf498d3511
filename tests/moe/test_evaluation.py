"""Evaluation: scores of every model and the system, routing and drops, and the reports and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from aiprime.moe.evaluation import (
    Scores,
    capacity_report,
    confusion,
    evaluate,
    macro_f1,
    score_member,
    variation,
    write_plots,
)
from aiprime.moe.experts import EXPERTS
from aiprime.moe.report import headline, html_page, markdown
from aiprime.moe.system import Member, MoESystem


@pytest.fixture(scope="module")
def evaluation(tiny_models: dict[str, Path], tiny_splits: dict):
    system = MoESystem.from_folders(tiny_models["gate"], [tiny_models[s.name] for s in EXPERTS])
    return evaluate(system, Member.load(tiny_models["dense"]), tiny_splits["test"])


def test_macro_f1_is_scikit_learns() -> None:
    rng = np.random.default_rng(0)
    truth, predicted = rng.choice(list("abcde"), 200), rng.choice(list("abcdf"), 200)
    assert macro_f1(truth, predicted) == pytest.approx(
        f1_score(truth, predicted, average="macro", zero_division=0)
    )
    assert Scores.of(np.array(["a", "b"]), np.array(["a", "a"])).accuracy == 0.5


def hand_macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """The hand-written macro-F1 that scikit-learn's replaced: the reference for the old values."""
    f1 = []
    for label in np.union1d(truth, predicted):
        hits = int(((truth == label) & (predicted == label)).sum())
        denominator = int((truth == label).sum() + (predicted == label).sum())
        f1.append(2 * hits / denominator if denominator else 0.0)
    return float(np.mean(f1))


def hand_confusion(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> np.ndarray:
    """The per-row loop that scikit-learn's confusion matrix replaced."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(truth.tolist(), predicted.tolist(), strict=True):
        if t in index and p in index:
            counts[index[t], index[p]] += 1
    return counts


@pytest.mark.slow
def test_scores_and_confusion_keep_their_old_values_on_the_systems_predictions(
    evaluation, tiny_models: dict[str, Path], tiny_splits: dict
) -> None:
    system = MoESystem.from_folders(tiny_models["gate"], [tiny_models[s.name] for s in EXPERTS])
    split = tiny_splits["test"]
    predicted = np.asarray(system.predict(split.x, top_k=1).fine_class, dtype=str)
    assert macro_f1(split.lexname, predicted) == pytest.approx(hand_macro_f1(split.lexname, predicted))
    assert evaluation.metrics["system.macro_f1"] == pytest.approx(hand_macro_f1(split.lexname, predicted))
    classes = list(evaluation.classes)
    assert (evaluation.confusion == hand_confusion(split.lexname, predicted, classes)).all()
    # a class absent from the data gets an empty row and column; labels left out drop their pairs
    labels = ["noun.absent", *classes[1:]]
    assert (
        confusion(split.lexname, predicted, labels) == hand_confusion(split.lexname, predicted, labels)
    ).all()
    assert confusion(split.lexname, predicted, ["noun.absent"]).tolist() == [[0]]
    assert confusion(split.lexname[:0], predicted[:0], []).shape == (0, 0)


@pytest.mark.slow
def test_every_model_and_the_system_are_scored(evaluation, tiny_splits: dict) -> None:
    metrics = evaluation.metrics
    names = [row[0] for row in headline(metrics)]
    assert names == [
        "gate",
        *(f"expert.{s.name}" for s in sorted(EXPERTS, key=lambda s: s.name)),
        "system",
        "system_top2",
        "dense",
    ]
    assert metrics["system.rows"] == len(tiny_splits["test"]) and metrics["system.accuracy"] > 0.8
    assert metrics["expert.living.rows"] == (tiny_splits["test"].domain == "living").sum()
    assert 0 <= metrics["dropped_frac"] <= 1 and evaluation.confusion.sum() == len(tiny_splits["test"])


@pytest.mark.slow
def test_utilisation_is_the_share_of_inputs_each_expert_receives(evaluation) -> None:
    shares = np.array([evaluation.metrics[f"routing.utilisation.{e}"] for e in evaluation.experts])
    assert shares.sum() == pytest.approx(1.0)
    assert evaluation.metrics["routing.utilisation_cv"] == pytest.approx(variation(shares))
    np.testing.assert_allclose(evaluation.routing.sum(axis=0) / evaluation.routing.sum(), shares)
    assert variation(np.array([5, 5, 5])) == 0.0


@pytest.mark.slow
def test_identical_inputs_overflow_an_experts_capacity(
    tiny_models: dict[str, Path], tiny_splits: dict
) -> None:
    member = Member.load(tiny_models["living"])
    same = np.repeat(tiny_splits["test"].x[:1], 256, axis=0)  # every token picks the same SwitchMoE expert
    dropped, layer_cv = capacity_report(member, same, batch_size=256)
    spread, _ = capacity_report(member, tiny_splits["test"].x, batch_size=256)
    assert dropped >= 0.5 * (1 - 80 / 256), dropped  # layer 1 alone keeps capacity ceil(1.25 * 256 / 4) = 80
    assert dropped > spread and layer_cv > 0


@pytest.mark.slow
def test_a_model_is_scored_on_the_rows_it_answers_for(
    tiny_models: dict[str, Path], tiny_splits: dict
) -> None:
    val = tiny_splits["val"]
    assert score_member(Member.load(tiny_models["actions"]), val).rows == (val.domain == "actions").sum()
    assert score_member(Member.load(tiny_models["gate"]), val).rows == len(val)


@pytest.mark.slow
def test_plots_and_reports_are_written(evaluation, tmp_path: Path) -> None:
    files = write_plots(evaluation, tmp_path)
    assert {p.name for p in files.values()} == {"confusion.png", "routing.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in files.values())
    text = markdown(evaluation.metrics)
    assert "| system |" in text and "| dense |" in text and "Utilisation CV" in text
    assert html_page(evaluation.metrics, files).count("data:image/png;base64,") == 2
