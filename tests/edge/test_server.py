"""The edge server over real HTTP on 127.0.0.1, in a process where `import torch` fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from aiprime.edge.runtime import EdgeModel

from .conftest import edge_server


@pytest.fixture(scope="module")
def server(edge_bundle: Path, tmp_path_factory: pytest.TempPathFactory):
    with edge_server(edge_bundle, tmp_path_factory.mktemp("edge-log") / "server.log") as url:
        yield url


TEXTS = ["a domesticated carnivorous mammal", "the act of running quickly"]


def test_v1_predict_answers_what_the_runtime_answers(server: str, edge_bundle: Path):
    want = EdgeModel(edge_bundle).predict(TEXTS)
    body = httpx.post(f"{server}/v1/models/edge:predict", json={"instances": [TEXTS[0], {"text": TEXTS[1]}]})
    assert body.status_code == 200, body.text
    records = body.json()["predictions"]
    assert [r["label"] for r in records] == want.label
    assert [r["expert"] for r in records] == want.expert
    assert all(0 < r["probability"] <= 1 and 0 < r["label_probability"] <= 1 for r in records)


def test_v2_infer_answers_one_row_per_text(server: str, edge_bundle: Path):
    tensor = {"name": "text", "shape": [2], "datatype": "BYTES", "data": TEXTS}
    response = httpx.post(f"{server}/v2/models/edge/infer", json={"id": "r1", "inputs": [tensor]})
    assert response.status_code == 200, response.text
    body = response.json()
    outputs = {o["name"]: o for o in body["outputs"]}
    n_experts = len(EdgeModel(edge_bundle).expert_names)
    assert body["id"] == "r1" and body["model_name"] == "edge"
    assert outputs["label"]["shape"] == [2] and outputs["expert"]["shape"] == [2]
    assert outputs["probabilities"]["shape"] == [2, n_experts]
    assert len(outputs["probabilities"]["data"]) == 2 * n_experts


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v2/health/live",
        "/v2/health/ready",
        "/v1/models/edge",
        "/v2/models/edge/ready",
        "/v2/models/edge",
    ],
)
def test_health_and_metadata_routes(server: str, path: str):
    assert httpx.get(f"{server}{path}").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/v1/models/edge:predict", {"instances": []}, "non-empty list"),
        ("/v1/models/edge:predict", {"instances": ["  "]}, "non-empty text"),
        ("/v1/models/edge:predict", {"instances": [3]}, "non-empty text"),
        ("/v1/models/edge:predict", {"text": "no instances"}, "instances"),
        ("/v2/models/edge/infer", {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]},
         "shape"),
        ("/v2/models/edge/infer", {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
         "BYTES"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_fix(server: str, path: str, body: dict, words: str):
    response = httpx.post(f"{server}{path}", json=body)
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_not_json_and_unknown_models(server: str):
    not_json = httpx.post(f"{server}/v1/models/edge:predict", content=b"{not json")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert httpx.post(f"{server}/v1/models/other:predict", json={"instances": ["a"]}).status_code == 404
    assert httpx.get(f"{server}/v2/models/other").status_code == 404


def test_a_body_over_the_limit_is_a_413(server: str):
    response = httpx.post(f"{server}/v1/models/edge:predict", content=b"x" * (2 << 20))
    assert response.status_code == 413


def test_runtime_modules_load_no_torch():
    code = (
        "import sys, aiprime.edge.server; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_notorch_refuses_torch_so_the_server_test_proves_its_absence():
    run = subprocess.run(
        [sys.executable, "-m", "aiprime.edge.notorch", "aiprime.moe.networks"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "torch is blocked" in run.stderr
