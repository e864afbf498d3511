"""The calibrated gate as served: its temperature applied, its record saying whether it is confident, and the
retriever not preferring a domain the gate was unsure of."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.gates import served_gate
from _helpers.tiny_moe import one_torch_thread, tiny_run, tiny_splits

from aiprime.errors import DataCorrupt
from aiprime.moe import fitting
from aiprime.moe.networks import load_metadata, load_model, save_model
from aiprime.serving.protocol import parse_gate
from aiprime.serving.retriever import parse_request
from aiprime.serving.served_models import load_served

pytestmark = pytest.mark.usefixtures("default_metrics_registry")  # it builds the gate's server object

__all__ = ["one_torch_thread", "tiny_run", "tiny_splits"]
REPO = Path(__file__).resolve().parents[2]
TEXT = "a domestic animal that barks and is kept as a pet"


@pytest.fixture(scope="module")
def gate_folder(tmp_path_factory: pytest.TempPathFactory, tiny_splits: dict, tiny_run) -> Path:
    """A tiny real gate, trained and calibrated by `train_gate`."""
    folder = tmp_path_factory.mktemp("gate")
    return fitting.train_gate(tiny_splits["train"], tiny_splits["val"], folder, tiny_run)


def with_metadata(folder: Path, out: Path, **changes) -> Path:
    """A copy of the gate in `folder` whose metadata has `changes`."""
    path = folder / fitting.MODEL_FILE
    save_model(load_model(path), out / fitting.MODEL_FILE, {**load_metadata(path), **changes})
    return out


def record(model, text: str = TEXT) -> dict:
    return asyncio.run(model.predict(parse_gate({"instances": [text]})))["predictions"][0]


@pytest.mark.slow
def test_the_served_gate_divides_its_logits_by_its_temperature_and_says_if_it_is_sure(
    gate_folder: Path, tmp_path: Path
) -> None:
    hot = served_gate(
        with_metadata(gate_folder, tmp_path / "hot", temperature=4.0, threshold=1.0)
    )  # one per process
    answer = record(hot)
    logits = hot.classifier.head(hot.classifier.encoder.embed([TEXT])).logits[0].detach()  # (D,)
    expected = torch.softmax(logits / 4.0, dim=-1).numpy()
    ranked = dict(zip(answer["experts"], answer["probabilities"], strict=True))
    np.testing.assert_allclose([ranked[c] for c in hot.classifier.classes], expected, atol=1e-5)
    assert answer["confident"] is False  # no probability below certainty reaches a threshold of 1
    hot.threshold = 0.0
    assert record(hot)["confident"] is True


def test_a_gate_without_calibration_says_nothing_of_its_confidence(gate_folder: Path, tmp_path: Path) -> None:
    metadata = load_metadata(gate_folder / fitting.MODEL_FILE)
    plain = {k: v for k, v in metadata.items() if k not in ("temperature", "threshold", "calibration")}
    out = tmp_path / "plain" / fitting.MODEL_FILE
    save_model(load_model(gate_folder / fitting.MODEL_FILE), out, plain)
    served = load_served(out, "gate")
    assert (served.temperature, served.threshold) == (1.0, None)


def test_a_gate_with_a_nonsense_temperature_is_refused(gate_folder: Path, tmp_path: Path) -> None:
    folder = with_metadata(gate_folder, tmp_path / "bad", temperature=0.0)
    with pytest.raises(DataCorrupt, match="calibrate_folder"):
        load_served(folder / fitting.MODEL_FILE, "gate")


def test_the_retriever_prefers_the_routed_domain_only_when_the_gate_was_sure() -> None:
    def routed(**extra) -> dict:
        return {"predictions": [{"expert": "people-society", "instances": ["who courts whom"], **extra}]}

    (sure,) = parse_request(routed(confident=True)).questions
    (unsure,) = parse_request(routed(confident=False)).questions
    (uncalibrated,) = parse_request(routed()).questions
    assert sure.domain == uncalibrated.domain == "people_society"
    assert unsure.domain is None and unsure.expert == "people-society"
