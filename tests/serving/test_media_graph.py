"""Images and speech through the multimodal InferenceGraph and the gateway, over real HTTP on 127.0.0.1.

Real servers throughout: the modality step (silero-vad, Whisper tiny.en) and the image expert
(EfficientNet-Lite0) as `python kserve/<folder>` processes, the session's gate and experts (`served`), the
local router running `kserve/graphs/multimodal.yaml` with KServe's semantics (forwarding the headers a binary
body needs, as the stack's router does), and the gateway in front of it. The speech clips are espeak-ng's
synthetic voice; the image and the sound effect are Tux Paint's.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _helpers import AsgiServer, free_port
from _helpers.gateways import Gateway, start_gateway
from _helpers.processes import ModelServerProcess
from _helpers.rag import ingested_collection
from typer.testing import CliRunner

from aiprime.cli import app
from aiprime.db.engine import connect
from aiprime.gateway import GatewaySettings
from aiprime.rag.corpus import Document
from aiprime.security import audit
from aiprime.security.admin import Actor, Admin
from aiprime.serving import launcher
from aiprime.serving.binary import encode_media_request
from aiprime.serving.graph import RouterConfig, create_app, load_graph, load_services
from aiprime.serving.media_models import IMAGE_EXPERT, MEDIA_SERVERS, MODALITY
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GRAPHS = REPO / "kserve" / "graphs"
STAMPS = Settings(_env_file=None).stamps_dir
IMAGE = STAMPS / "hobbies" / "binoculars.png"
ROOSTER = STAMPS / "animals" / "birds" / "rooster.ogg"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
BINOCULARS = "wn:binoculars.n.01"
DOCS = [
    Document(BINOCULARS, "wordnet", "artifacts", "binoculars",
             "binoculars, field glasses, opera glasses: an optical instrument designed for simultaneous use by both eyes"),
    Document("wn:dog.n.01", "wordnet", "living", "dog", "dog: a domesticated animal that barks, kept as a pet"),
    Document("wn:hammer.n.02", "wordnet", "artifacts", "hammer", "hammer: a hand tool for driving nails"),
]  # fmt: skip


@pytest.fixture(scope="module")
def media_servers(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The modality step and the image expert, each in its own process; serviceName -> predict URL."""
    if not IMAGE.is_file() or not ROOSTER.is_file():
        pytest.skip(f"Tux Paint's stamps are not at {STAMPS}: apt-get install tuxpaint-stamps-default")
    logs = tmp_path_factory.mktemp("media-servers")
    servers = [ModelServerProcess(MEDIA_SERVERS[name], [], logs / f"{name}.log", name=name, env=ENV)
               for name in (MODALITY, IMAGE_EXPERT)]  # fmt: skip
    try:
        for server in servers:
            server.wait_ready()
        yield {server.name: server.predict_url for server in servers}
    finally:
        for server in servers:
            server.stop()


def media_graph_app(graph: str, services: dict[str, str]):
    """The router app of `graph`, forwarding the headers a binary body needs (as `aiprime serve --media`
    configures its router); every service it names but `services` maps points at a closed port."""
    closed = f"http://127.0.0.1:{free_port()}"
    named = {
        name: f"{closed}/v1/models/{name}:predict" for name in load_services(GRAPHS / "services.local.yaml")
    }
    config = RouterConfig(propagate_headers=tuple(launcher.MEDIA_HEADERS.split(",")))
    return create_app(load_graph(GRAPHS / graph), named | services, config)


@pytest.fixture(scope="module")
def media_router(media_servers) -> Iterator[str]:
    """The multimodal graph on the media servers alone: the text path's services are at a closed port, so
    an answer proves that the request never reached them."""
    with AsgiServer(media_graph_app("multimodal.yaml", media_servers)) as running:
        yield running.url


@pytest.fixture(scope="module")
def router(served, media_servers) -> Iterator[str]:
    """The multimodal graph on the session's gate and experts and the two media servers."""
    with AsgiServer(media_graph_app("multimodal.yaml", served.services | media_servers)) as running:
        yield running.url


@pytest.fixture(scope="module")
def gateway(media_router, app_db_url, tmp_path_factory) -> Iterator[tuple[Gateway, str]]:
    """The gateway with the router as its predict upstream (what `aiprime serve --media --gateway` runs),
    and a viewer's API key."""
    settings = GatewaySettings(_env_file=None, predict_url=media_router, ask_url=media_router)
    gw = start_gateway(app_db_url, tmp_path_factory.mktemp("media-gateway"), settings)
    admin, name = Admin(connect(app_db_url)), f"svc-media-{os.getpid()}"
    admin.add_principal(Actor("tests"), name, "service")
    admin.grant(Actor("tests"), name, "viewer")
    yield gw, admin.create_key(Actor("tests"), name).token
    gw.stop()


def spoken(text: str, tmp_path: Path) -> bytes:
    path = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path.read_bytes()


def post_file(url: str, name: str, data: bytes, content_type: str, **kwargs) -> httpx.Response:
    body, headers = encode_media_request(name, data, content_type)
    return httpx.post(url, content=body, headers=headers | kwargs.pop("headers", {}), timeout=300, **kwargs)


def test_an_image_goes_to_the_image_expert_as_v2_binary_or_v1_base64(media_router):
    binary = post_file(media_router, "image", IMAGE.read_bytes(), "image/png")
    b64 = {"instances": [{"image": {"b64": base64.b64encode(IMAGE.read_bytes()).decode()}}]}
    as_json = httpx.post(media_router, json=b64, timeout=300)

    assert binary.status_code == 200, binary.text
    (record,) = binary.json()["predictions"]
    assert record["modality"] == "image" and record["expert"] == "artifacts"
    assert "binoculars" in record["synsets"][0]["lemmas"]
    assert record["instances"] == ["binoculars, field glasses, opera glasses"]  # what retrieval searches for
    assert as_json.status_code == 200 and as_json.json() == binary.json()


def test_other_sound_is_422_naming_what_is_understood(media_router):
    answer = post_file(media_router, "audio", ROOSTER.read_bytes(), "audio/ogg")

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert "no speech found" in error and "images (PNG" in error and "spoken English" in error


@pytest.mark.parametrize(
    ("cut", "declared", "field"),
    [(100, "image", "inputs[0].parameters.binary_data_size"), (0, "audio", "inputs[0]: expected audio")],
)
def test_bad_binary_input_is_400_naming_the_field(media_router, cut, declared, field):
    body, headers = encode_media_request(declared, IMAGE.read_bytes(), f"{declared}/x")
    answer = httpx.post(media_router, content=body[: len(body) - cut], headers=headers, timeout=60)

    assert answer.status_code == 400 and field in answer.json()["error"]


def test_the_gateway_passes_binary_bodies_through_with_auth_and_audit(gateway, media_router):
    gw, key = gateway
    direct = post_file(media_router, "image", IMAGE.read_bytes(), "image/png")
    with gw.client(key) as client:
        body, headers = encode_media_request("image", IMAGE.read_bytes(), "image/png")
        image = client.post("/v1/predict/media", content=body, headers=headers, timeout=300)
        body, headers = encode_media_request("audio", ROOSTER.read_bytes(), "audio/ogg")
        sound = client.post("/v1/predict/media", content=body, headers=headers, timeout=300)
    with gw.client() as anonymous:
        refused = anonymous.post("/v1/predict/media", content=body, headers=headers)

    assert image.status_code == 200 and image.json() == direct.json()
    assert sound.status_code == 422 and "no speech found" in sound.json()["error"]["message"]
    assert refused.status_code == 401
    gw.flush_audit()
    with gw.app.state.runtime.engine.connect() as conn:
        rows = [audit.read(conn, request_id=r.headers["x-request-id"])[-1] for r in (image, sound, refused)]
    assert [(r.entry.action, r.entry.decision, r.entry.status) for r in rows] == [
        ("POST /v1/predict/media", "allow", 200),
        ("POST /v1/predict/media", "allow", 422),
        ("POST /v1/predict/media", "deny", 401),
    ]


def test_the_gateway_and_the_graph_refuse_bodies_they_cannot_read_naming_the_fix(gateway):
    gw, key = gateway
    body, _ = encode_media_request("image", IMAGE.read_bytes(), "image/png")
    with gw.client(key) as client:
        headerless = client.post(
            "/v1/predict/media", content=body, headers={"content-type": "application/octet-stream"}
        )
        lying = client.post("/v1/predict/media", content=body, headers={"content-type": "application/octet-stream",
                                                                         "inference-header-content-length": "x1"})  # fmt: skip
        text = client.post("/v1/predict/media", content=b"hello", headers={"content-type": "text/plain"})

    assert headerless.status_code == 400  # from the modality step, through the router and the gateway
    assert "Inference-Header-Content-Length" in headerless.json()["error"]["message"]
    assert (
        lying.status_code == 400
        and "Inference-Header-Content-Length: 'x1'" in lying.json()["error"]["message"]
    )
    assert text.status_code == 415 and "application/octet-stream" in text.json()["error"]["message"]


def test_ask_image_shows_what_the_graph_saw(media_router):
    result = CliRunner().invoke(app, ["ask", "--image", str(IMAGE), "--router", media_router])

    assert result.exit_code == 0, result.output
    assert "Seen as binoculars, field glasses, opera glasses (domain artifacts" in result.output


def test_ask_image_without_a_multimodal_graph_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path))  # no stack runs there

    result = CliRunner().invoke(app, ["ask", "--image", str(IMAGE)])

    assert result.exit_code == 1 and "aiprime serve --rag --media" in result.output


@pytest.fixture(scope="module")
def rag_router(media_servers, app_db_url, pg_server_url, embedding_cache, tmp_path_factory):
    """The multimodal RAG graph on the media servers and a real retriever and generator (the text path's
    services at a closed port: an image never reaches them)."""
    collection = ingested_collection(app_db_url, DOCS, embedding_cache, "test-media-rag")
    logs = tmp_path_factory.mktemp("media-rag")
    retriever_args = ["--database_url", pg_server_url, "--collection", collection, "--reranker", "none"]
    generator_args = ["--llama_threads", "1", "--max_tokens", "48"]
    with (
        ModelServerProcess("retriever", retriever_args, logs / "retriever.log", env=ENV) as retriever,
        ModelServerProcess("generator", generator_args, logs / "generator.log", env=ENV) as generator,
    ):
        services = media_servers | {"retriever": retriever.predict_url, "generator": generator.predict_url}
        with AsgiServer(media_graph_app("rag-multimodal.yaml", services)) as running:
            yield running.url


def test_an_image_is_answered_with_citations_through_the_rag_graph(rag_router):
    result = CliRunner().invoke(app, ["ask", "--image", str(IMAGE), "--router", rag_router])

    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())  # rich wraps lines at the terminal's width
    assert "Seen as binoculars" in shown and f"cites {BINOCULARS}" in shown
    answer = post_file(rag_router, "image", IMAGE.read_bytes(), "image/png")
    (record,) = answer.json()["predictions"]
    assert record["question"] == "binoculars, field glasses, opera glasses" and record["domain"] is None
    assert record["citations"] == [BINOCULARS] and not record["abstained"]


def test_speech_is_transcribed_and_answered_by_the_text_path(router, tmp_path):
    answer = post_file(router, "audio", spoken("a small dog that barks", tmp_path), "audio/wav")

    assert answer.status_code == 200, answer.text
    (record,) = answer.json()["predictions"]
    assert record["expert"] in (
        "living",
        "artifacts",
        "people-society",
        "abstractions",
        "actions",
        "qualities",
    )
    assert "dog" in record["instances"][0].lower() and "scores" in record


def test_text_takes_the_text_path_unchanged(router, served):
    request = {"instances": ["a domestic animal that barks"]}
    through_media = httpx.post(router, json=request, timeout=120)
    text_only = httpx.post(served.stack.router_url, json=request, timeout=120)

    assert through_media.status_code == text_only.status_code == 200
    assert through_media.json() == text_only.json()
