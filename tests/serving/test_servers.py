"""The gate, an expert and the combiner as KServe servers: v1 and v2 through KServe's own client, readiness,
and errors answered as KServe answers them."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from aiprime.moe.experts import domains
from aiprime.serving.names import route_name

DOG = "a domestic animal that barks and is kept as a pet"


def _infer(base: str, model: str, data, protocol: str = "v1"):
    async def call():
        async with InferenceRESTClient(RESTConfig(protocol=protocol, timeout=120, retries=0)) as client:
            return await client.infer(base, data, model_name=model)

    return asyncio.run(call())


def _ready(base: str, model: str) -> tuple[bool, bool]:
    async def call():
        async with InferenceRESTClient(RESTConfig(protocol="v2", timeout=30)) as client:
            return await client.is_server_ready(base), await client.is_model_ready(base, model)

    return asyncio.run(call())


@pytest.mark.slow
def test_gate_answers_the_graph_contract_over_v1(served) -> None:
    answer = _infer(served.base("gate"), "gate", {"instances": [DOG, {"text": DOG}]})
    (record,) = answer["predictions"]  # one routing decision per request
    assert record["instances"] == [DOG, {"text": DOG}]  # the request, unchanged
    assert record["expert"] == record["experts"][0]
    assert sorted(record["experts"]) == sorted(route_name(domain) for domain in domains())
    assert record["probabilities"] == sorted(record["probabilities"], reverse=True)
    assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_gate_answers_per_text_over_v2(served) -> None:
    text = InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array([DOG, "a tool for cutting wood"], dtype=object), binary_data=False)
    response = _infer(served.base("gate"), "gate", InferRequest("gate", [text]), protocol="v2")
    outputs = {o.name: o for o in response.outputs}
    probabilities = outputs["probabilities"].as_numpy()
    assert probabilities.shape == (2, 6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    v1 = _infer(served.base("gate"), "gate", {"instances": [DOG]})["predictions"][0]
    assert outputs["expert"].as_numpy()[0] in (v1["expert"], v1["expert"].encode())


@pytest.mark.slow
def test_expert_takes_the_gates_response_and_echoes_its_probability(served) -> None:
    routed = _infer(served.base("gate"), "gate", {"instances": [DOG]})
    record = routed["predictions"][0]
    second = record["experts"][1]
    answer = _infer(served.base(f"expert-{second}"), f"expert-{second}", routed)
    (mine,) = answer["predictions"]
    assert mine["expert"] == second
    assert mine["probability"] == pytest.approx(record["probabilities"][1])
    assert sum(mine["scores"].values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_expert_classifies_plain_text_over_v1_and_v2(served) -> None:
    base, name = served.base("expert-living"), "expert-living"
    direct = _infer(base, name, {"instances": [DOG, "an oak tree"]})["predictions"]
    assert [r["probability"] for r in direct] == [1.0, 1.0]  # no gate: the caller chose this expert
    text = InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([DOG], dtype=object), binary_data=False)
    outputs = {o.name: o for o in _infer(base, name, InferRequest(name, [text]), protocol="v2").outputs}
    label = outputs["label"].as_numpy()[0]
    label = label.decode() if isinstance(label, bytes) else label
    assert label == max(direct[0]["scores"], key=direct[0]["scores"].get)


@pytest.mark.slow
def test_servers_are_live_and_ready(served, http) -> None:
    for name in ("gate", "expert-people-society", "combiner"):
        assert _ready(served.base(name), name) == (True, True)
        assert http.get(f"{served.base(name)}/v2/health/live").json() == {"live": True}
        assert http.get(f"{served.base(name)}/v1/models/{name}").json() == {"name": name, "ready": True}


@pytest.mark.slow
def test_bad_input_is_a_400_json_error_naming_the_fix(served, http) -> None:
    answer = http.post(f"{served.base('gate')}/v1/models/gate:predict", json={"instances": [42]})
    assert answer.status_code == 400
    assert 'Send {"instances"' in answer.json()["error"]
    with pytest.raises(httpx.HTTPStatusError, match="BYTES input named 'text'"):
        number = InferInput("x", [1], "FP32")
        number.set_data_from_numpy(np.array([1.0], dtype=np.float32), binary_data=False)
        _infer(served.base("gate"), "gate", InferRequest("gate", [number]), protocol="v2")


@pytest.mark.slow
def test_combiner_weights_two_experts_and_refuses_tensors(served, http) -> None:
    first = {"predictions": [{"expert": "living", "probability": 0.6, "scores": {"a": 1.0, "b": 0.0}}]}
    second = {"predictions": [{"expert": "actions", "probability": 0.2, "scores": {"a": 0.0, "b": 1.0}}]}
    answer = _infer(served.base("combiner"), "combiner", {"first": first, "second": second})
    (record,) = answer["predictions"]
    assert record["weights"] == pytest.approx([0.75, 0.25])
    assert record["scores"] == pytest.approx({"a": 0.75, "b": 0.25})
    refused = http.post(
        f"{served.base('combiner')}/v2/models/combiner/infer",
        json={"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x"]}]},
    )
    assert refused.status_code == 400 and "v1 JSON" in refused.json()["error"]
