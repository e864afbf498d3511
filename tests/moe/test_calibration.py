"""The gate's calibration: temperature scaling on val, the expected calibration error, the trusted threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiprime.errors import InvalidInput
from aiprime.moe import fitting
from aiprime.moe.calibration import (
    calibrate,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from aiprime.moe.networks import load_metadata


def overconfident(n: int = 4000, sharpen: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits `sharpen` times too large for labels drawn from softmax(z): a model that is overconfident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 6)) * 1.5  # (N, 6) the true logits
    p = softmax(z)
    labels = np.array([rng.choice(6, p=row) for row in p])
    return z * sharpen, labels


def test_temperature_scaling_recovers_the_overconfidence_and_lowers_the_ece() -> None:
    logits, labels = overconfident()
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.15)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    assert before > 0.1 and after < 0.03, (before, after)
    np.testing.assert_array_equal(softmax(logits, temperature).argmax(1), logits.argmax(1))


def test_ece_is_zero_when_confidence_equals_accuracy_in_every_bin() -> None:
    probabilities = np.array([[0.75, 0.25]] * 4 + [[0.25, 0.75]] * 4)
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)
    assert expected_calibration_error(probabilities, 1 - labels) == pytest.approx(0.5)


def test_the_threshold_is_the_lowest_confidence_whose_rows_above_reach_the_precision() -> None:
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6])
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.array([0, 0, 0, 1, 1])  # right, right, right, wrong, wrong
    assert choose_threshold(probabilities, labels, precision=0.75) == pytest.approx(0.7)
    assert choose_threshold(probabilities, labels, precision=1.0) == pytest.approx(0.8)
    assert choose_threshold(probabilities, 1 - labels, precision=0.9) == 1.0


def test_the_calibration_reports_the_accuracy_above_its_threshold() -> None:
    logits, labels = overconfident(seed=1)
    found = calibrate(logits, labels, precision=0.9)
    above = softmax(logits, found.temperature).max(1) >= found.threshold
    assert found.accuracy_above >= 0.9 and found.coverage == pytest.approx(above.mean())
    assert found.ece_after < found.ece_before and found.val_rows == len(labels)


def test_the_threshold_is_chosen_on_the_rows_of_the_served_form() -> None:
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.95, 0.9, 0.8, 0.7])
    logits = np.log(np.stack([confidence, 1 - confidence], axis=1))
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # glosses right; the two least sure questions wrong
    everywhere = calibrate(logits, labels, precision=0.75)
    on_questions = calibrate(logits, labels, precision=0.75, served=np.arange(8) >= 4)
    calibrated = softmax(logits, on_questions.temperature).max(axis=1)
    assert everywhere.threshold == pytest.approx(calibrated[3])  # 6 of the 8 rows at or above 0.7 are right
    assert on_questions.threshold == pytest.approx(calibrated[5])  # of the questions, those at 0.95 and 0.9


def test_calibrating_nothing_names_what_to_pass() -> None:
    with pytest.raises(InvalidInput, match="validation split"):
        fit_temperature(np.zeros((0, 6)), np.zeros(0, dtype=int))
    with pytest.raises(InvalidInput, match="same rows"):
        expected_calibration_error(np.zeros((3, 6)), np.zeros(2, dtype=int))


def test_a_trained_gate_carries_its_temperature_and_threshold(
    tmp_path: Path, tiny_splits: dict, tiny_run
) -> None:
    questions = (tiny_splits["test"], tiny_splits["test"])  # stand-ins: any labelled rows
    gate = fitting.train_gate(
        tiny_splits["train"], tiny_splits["val"], tmp_path / "gate", tiny_run, questions=questions
    )
    metadata = load_metadata(gate / fitting.MODEL_FILE)
    calibration = metadata["calibration"]
    assert metadata["temperature"] == calibration["temperature"] > 0
    assert 0 < metadata["threshold"] <= 1 and calibration["val_rows"] == 2 * len(tiny_splits["val"])
    assert calibration["ece_after"] <= calibration["ece_before"] + 1e-9
