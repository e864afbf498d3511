"""Parsing the gate's and the experts' requests in both protocols, and the records they answer."""

from __future__ import annotations

import numpy as np
import pytest
from kserve import InferInput, InferRequest

from aiprime.errors import InvalidInput
from aiprime.serving.protocol import expert_record, gate_probability, gate_record, parse_expert, parse_gate

GATE_RECORD = {"instances": ["a dog", "a cat"], "expert": "living", "experts": ["living", "actions"],
               "probabilities": [0.7, 0.2]}  # fmt: skip


def test_gate_takes_strings_and_text_objects_as_one_request() -> None:
    request = parse_gate({"instances": ["a dog", {"text": "a cat"}], "parameters": {"method": "shap"}})
    assert len(request.groups) == 1 and request.texts == ["a dog", "a cat"]
    assert request.instances == ["a dog", {"text": "a cat"}] and request.parameters == {"method": "shap"}


def test_expert_takes_the_gates_response_before_or_after_mapping_predictions_to_instances() -> None:
    for key in ("predictions", "instances"):
        request = parse_expert({key: [GATE_RECORD]})
        (group,) = request.groups
        assert group.texts == ("a dog", "a cat") and group.gate is GATE_RECORD


def test_expert_answers_plain_instances_one_by_one() -> None:
    assert [g.texts for g in parse_expert({"instances": ["a", "b"]}).groups] == [("a",), ("b",)]


def test_v2_text_tensor_is_one_group_per_row() -> None:
    text = InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array(["a dog", "a cat"], dtype=object), binary_data=False)
    request = parse_gate(InferRequest("gate", [text], request_id="r1"))
    assert request.v2 and request.request_id == "r1" and request.texts == ["a dog", "a cat"]


@pytest.mark.parametrize("payload", [{}, {"instances": []}, {"instances": [""]}, {"instances": [{"txt": "x"}]},
                                     {"instances": ["x"], "parameters": "shap"}])  # fmt: skip
def test_malformed_requests_are_invalid_input_showing_the_shape(payload) -> None:
    with pytest.raises(InvalidInput):
        parse_gate(payload)


def test_records_follow_the_graph_contract() -> None:
    record = gate_record(["a dog"], ["living", "actions"], [0.71234567, 0.2])
    assert record == {"instances": ["a dog"], "expert": "living", "experts": ["living", "actions"],
                      "probabilities": [0.712346, 0.2]}  # fmt: skip
    assert gate_probability(GATE_RECORD, "actions") == 0.2
    assert gate_probability(GATE_RECORD, "qualities") == 0.0  # not chosen
    assert gate_probability(None, "qualities") == 1.0  # called directly
    answer = expert_record("living", 0.7, ["noun.animal", "noun.plant"], np.array([0.9, 0.1]))
    assert answer == {
        "expert": "living",
        "probability": 0.7,
        "scores": {"noun.animal": 0.9, "noun.plant": 0.1},
    }


def test_a_routed_experts_record_carries_the_gates_instances_on() -> None:
    (group,) = parse_expert({"predictions": [GATE_RECORD]}).groups
    answer = expert_record("living", 0.7, ["a"], np.array([1.0]), group.gate)
    assert answer["instances"] == ["a dog", "a cat"]  # the RAG graph's retriever reads the question here
    assert "confident" not in answer  # an uncalibrated gate says nothing about its confidence


def test_a_routed_experts_record_carries_an_unsure_gates_doubt_on() -> None:
    record = gate_record(["a dog"], ["living", "actions"], [0.4, 0.3], confident=False)
    (group,) = parse_expert({"predictions": [record]}).groups
    answer = expert_record("living", 0.4, ["a"], np.array([1.0]), group.gate)
    assert answer["confident"] is False and answer["instances"] == ["a dog"]
    assert "confident" not in gate_record(["a dog"], ["living"], [0.9])
