"""The graph's records name the registered versions that made them, carried from step to step, and the
retriever's the stored chunks its hits are: what the gateway's audit row keeps for `aiprime lineage`."""

from __future__ import annotations

import numpy as np
from starlette.responses import Response

from aiprime.gateway.upstream import served_by
from aiprime.serving.protocol import expert_record, gate_record

GATE = "aiprime-gate@3"
EXPERT = "aiprime-expert-living@2"


def test_the_gate_names_its_version_and_the_expert_adds_its_own_after_it() -> None:
    gate = gate_record(["a dog"], ["living", "actions"], [0.7, 0.3], version=GATE)
    record = expert_record("living", 0.7, ["noun.animal"], np.array([1.0]), gate, EXPERT)

    assert gate["model_versions"] == [GATE]
    assert record["model_versions"] == [GATE, EXPERT]
    assert record["instances"] == ["a dog"]


def test_servers_of_local_folders_name_no_version_and_junk_is_not_carried() -> None:
    assert "model_versions" not in gate_record(["a dog"], ["living"], [1.0])
    junk = {"instances": ["a dog"], "model_versions": [42, None, "aiprime-gate@1"]}
    assert expert_record("living", 1.0, ["x"], np.array([1.0]), junk)["model_versions"] == ["aiprime-gate@1"]
    assert "model_versions" not in expert_record(
        "living", 1.0, ["x"], np.array([1.0]), {"model_versions": "x"}
    )


def test_the_gateway_keeps_what_an_answer_says_served_it() -> None:
    body = (
        b'{"predictions": [{"answer": "a dog", "model_versions": ["aiprime-gate@3", "aiprime-expert-living@2"],'
        b' "chunk_ids": [7, 9, 7, true, "8"]}, {"model_versions": ["aiprime-gate@3"]}]}'
    )

    found = served_by(Response(body, media_type="application/json"))

    assert found == {"model_versions": [GATE, EXPERT], "chunk_ids": [7, 9]}
    assert served_by(Response(b"not json", media_type="application/json")) == {}
    assert served_by(Response(b"[1, 2]", media_type="application/json")) == {}
    assert served_by(Response(body, media_type="text/plain")) == {}
