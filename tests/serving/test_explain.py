"""`:explain` on the gate and the experts: words with attributions that add up to what the model did."""

from __future__ import annotations

import pytest

DOG = "a domestic animal that barks and is kept as a pet"


def _explain(http, served, name: str, body: dict) -> dict:
    answer = http.post(f"{served.base(name)}/v1/models/{name}:explain", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["explanations"][0]


def _assert_complete(why: dict) -> None:
    assert len(why["tokens"]) == len(why["attributions"])
    delta = sum(why["attributions"]) - (why["prediction"] - why["baseline_prediction"])
    assert delta == pytest.approx(why["delta"], abs=1e-6)  # the reported delta is the real one
    assert why["complete"] is (abs(why["delta"]) <= why["tolerance"])
    assert sum(w["attribution"] for w in why["words"]) == pytest.approx(sum(why["attributions"]), abs=1e-6)


@pytest.mark.slow
def test_gate_explains_its_choice_by_default_with_shap_over_words_that_add_up(served, http) -> None:
    route = http.post(served.services["gate"], json={"instances": [DOG]}).json()["predictions"][0]
    why = _explain(http, served, "gate", {"instances": [DOG]})
    assert why["target"] == route["expert"] and why["method"] == "shap"
    assert why["tokens"] == DOG.split() and [w["word"] for w in why["words"]] == DOG.split()
    assert why["prediction"] == pytest.approx(route["probabilities"][0], abs=1e-3)  # the served function
    assert why["complete"] and abs(why["delta"]) < 1e-4  # Kernel SHAP is efficient by construction
    _assert_complete(why)


@pytest.mark.slow
def test_gate_explains_its_choice_with_integrated_gradients_that_add_up(served, http) -> None:
    route = http.post(served.services["gate"], json={"instances": [DOG]}).json()["predictions"][0]
    why = _explain(http, served, "gate", {"instances": [DOG], "parameters": {"method": "ig"}})
    assert why["target"] == route["expert"] and why["method"] == "integrated_gradients"
    assert why["tokens"][0] == "[CLS]" and why["tokens"][-1] == "[SEP]"
    assert [w["word"] for w in why["words"]] == DOG.split()
    assert why["prediction"] == pytest.approx(route["probabilities"][0], abs=1e-3)  # the served function
    assert why["evaluations"] == 32  # one pass: whether it adds up is reported (`complete`), never forced
    _assert_complete(why)


@pytest.mark.slow
def test_expert_explains_a_chosen_class_with_shap_without_gradients(served, http) -> None:
    scores = http.post(served.services["expert-living"], json={"instances": [DOG]}).json()["predictions"][0][
        "scores"
    ]
    last = min(scores, key=scores.get)
    why = _explain(http, served, "expert-living",
                   {"instances": [DOG], "parameters": {"method": "shap", "target": last}})  # fmt: skip
    assert (why["target"], why["method"]) == (last, "shap")
    assert why["prediction"] == pytest.approx(scores[last], abs=1e-3)
    assert why["complete"] and abs(why["delta"]) < 1e-4  # Kernel SHAP is efficient by construction
    _assert_complete(why)


@pytest.mark.slow
def test_expert_explains_the_gates_response_as_routed(served, http) -> None:
    routed = http.post(served.services["gate"], json={"instances": [DOG]}).json()
    why = _explain(http, served, "expert-living", routed)  # what the expert receives in a graph
    assert why["text"] == DOG and why["method"] in ("integrated_gradients", "shap")  # auto: IG, else SHAP
    _assert_complete(why)


@pytest.mark.slow
def test_unknown_method_or_target_is_a_400(served, http) -> None:
    for parameters in ({"method": "lime"}, {"target": "noun.nothing"}):
        answer = http.post(f"{served.base('gate')}/v1/models/gate:explain",
                           json={"instances": [DOG], "parameters": parameters})  # fmt: skip
        assert answer.status_code == 400, answer.text
