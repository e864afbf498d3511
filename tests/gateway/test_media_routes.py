"""The media routes on a real gateway: espeak-ng speech transcribed, stamps stored in pgvector found by their
image, every bad input a 4xx naming its field; and the agents' transcribe and image_search tools calling them
with the user's token (RBAC, an audit row and a span per call)."""

from __future__ import annotations

import base64
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _helpers.agent_gateway import platform_upstream, service_account
from _helpers.gateways import Gateway, start_gateway
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from PIL import Image

from aiprime.agents import api as agents_api
from aiprime.agents.declared import AGENTS
from aiprime.agents.graph import Caller, Runtime, start_run
from aiprime.agents.runs import RunStore
from aiprime.agents.tools import GatewayTools
from aiprime.db.engine import connect
from aiprime.gateway import GatewaySettings
from aiprime.multimodal.link import ImageTextLink
from aiprime.multimodal.stamps import Stamp
from aiprime.security import audit
from aiprime.serving.media_search import ingest_stamps
from aiprime.settings import Settings

SPOKEN = "Please open the window before noon."
STAMPS = 12


def noise_png(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def tone_wav(path: Path, seconds: float = 2.0) -> Path:
    """A 440 Hz tone: sound, but not speech."""
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(16_000 * seconds)) / 16_000) * 32767).astype(
        "<i2"
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media-files")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(root / "spoken.wav"), SPOKEN], check=True)
    return {"speech": root / "spoken.wav", "tone": tone_wav(root / "tone.wav"),
            "stamp": root / "stamps" / "agents-media" / "shape05.png"}  # fmt: skip


@pytest.fixture(scope="module")
def gateway(
    app_db_url: str, embedding_cache: Path, files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A gateway whose image search uses a real (untrained, seeded) link, over stamps stored with it."""
    home = tmp_path_factory.mktemp("media-gateway")
    (home / "embeddings").symlink_to(embedding_cache)
    rng = np.random.default_rng(0)
    link = ImageTextLink(np.zeros(1280), np.ones(1280), rng.normal(size=(1280, 384)), 0.5)
    stamps = [
        Stamp(
            f"agents-media/shape{n:02d}",
            noise_png(files["stamp"].parent / f"shape{n:02d}.png", n),
            f"Shape {n}.",
            0,
        )
        for n in range(STAMPS)
    ]
    engine = connect(app_db_url)
    assert ingest_stamps(engine, stamps, link, Settings(home=home, _env_file=None)) == STAMPS
    engine.dispose()
    with platform_upstream() as upstream:
        urls = {f"{name}_url": f"{upstream.url}/{name}" for name in ("predict", "ask", "search")}
        gw = start_gateway(app_db_url, home, GatewaySettings(_env_file=None, **urls),
                           extensions=[agents_api.install, lambda app: setattr(app.state, "media_link", link)])  # fmt: skip
        yield gw
        gw.stop()


def token(gateway: Gateway, app_db_url: str, *roles: str) -> tuple[str, str]:
    name, key = service_account(app_db_url, *roles)
    return name, gateway.token(name, key)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def post(gateway: Gateway, bearer: str, path: str, body: dict) -> tuple[int, dict]:
    with gateway.client(bearer) as client:
        answer = client.post(path, json=body, timeout=120)
    return answer.status_code, answer.json()


def test_speech_is_transcribed_and_an_image_finds_its_stamp(gateway, app_db_url, files) -> None:
    _, bearer = token(gateway, app_db_url, "viewer")
    status, said = post(gateway, bearer, "/v1/transcribe", {"audio": b64(files["speech"])})
    assert status == 200, said
    assert "window" in said["transcript"].lower() and said["speech_seconds"] > 0.5
    status, found = post(gateway, bearer, "/v1/search/image", {"image": b64(files["stamp"]), "top_k": 3})
    assert status == 200, found
    assert found["hits"][0]["doc_id"] == "stamp:agents-media/shape05" and len(found["hits"]) == 3
    assert found["hits"][0]["score"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("path", "body", "status", "names"),
    [
        ("/v1/transcribe", {"audio": "not base64!"}, 400, "audio"),
        ("/v1/transcribe", {"audio": "stamp"}, 400, "audio: expected audio"),
        ("/v1/transcribe", {"audio": "tone"}, 422, "no speech"),
        ("/v1/search/image", {"image": "speech"}, 400, "image: expected image"),
        ("/v1/search/image", {"image": "stamp", "top_k": 500}, 400, "top_k"),
        ("/v1/search/image", {"image": "stamp", "modality": "audio"}, 400, "modality"),
        ("/v1/transcribe", {"audio": "A" * (2 << 20)}, 413, "bytes"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(gateway, app_db_url, files, path, body, status, names) -> None:
    _, bearer = token(gateway, app_db_url, "viewer")
    body = {k: b64(files[v]) if v in files else v for k, v in body.items()}
    answer, error = post(gateway, bearer, path, body)
    assert answer == status, error
    assert names in str(error["error"]), error


def test_the_agents_media_tools_call_the_routes_as_the_user(gateway, app_db_url, files) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    runtime = Runtime(RunStore(connect(app_db_url)), app_db_url, tracer=provider.get_tracer("test"),
                      tracking_uri="http://127.0.0.1:9")  # fmt: skip
    name, bearer = token(gateway, app_db_url, "viewer")
    who = Caller(gateway.url, bearer, name)
    heard = start_run(AGENTS["assistant"], f'What is said in "{files["speech"]}"?', who, runtime)
    seen = start_run(AGENTS["assistant"], f'Which stamp is this: "{files["stamp"]}"?', who, runtime)
    assert (heard.status, heard.plan, heard.policy) == (
        "done",
        ("transcribe",),
        "media: transcribe reads the file",
    )
    assert "window" in heard.answer.lower()
    assert (seen.status, seen.plan) == (
        "done",
        ("image_search",),
    ) and "stamp:agents-media/shape05" in seen.answer
    gateway.flush_audit()
    with connect(app_db_url).connect() as conn:
        rows = [audit.read(conn, request_id=run.steps[0].request_id)[0].entry for run in (heard, seen)]
    assert [(r.actor, r.action, r.detail["agent_run"]) for r in rows] == [
        (name, "POST /v1/transcribe", heard.id), (name, "POST /v1/search/image", seen.id)]  # fmt: skip
    step_spans = [s for s in spans.get_finished_spans() if s.name.startswith("agent.step")]
    assert [s.attributes["aiprime.tool"] for s in step_spans] == ["transcribe", "image_search"]


def test_without_ask_the_agent_cannot_use_them(gateway, app_db_url, files) -> None:
    _, bearer = token(gateway, app_db_url, "auditor")
    tools = GatewayTools(gateway.url, bearer, "run-media-test")
    result = tools.call("transcribe", str(files["speech"]))
    assert (result.status, result.http_status) == ("forbidden", 403) and "ask" in result.message


def test_a_file_that_cannot_be_read_or_read_here_is_a_bad_input_step(gateway, app_db_url, files) -> None:
    _, bearer = token(gateway, app_db_url, "viewer")
    missing = GatewayTools(gateway.url, bearer, "run-media-test").call("image_search", "/nonexistent/x.png")
    assert missing.status == "bad_input" and "/nonexistent/x.png" in missing.message
    remote = GatewayTools(gateway.url, bearer, "run-media-test", read_files=False)
    refused = remote.call("transcribe", str(files["speech"]))
    assert refused.status == "bad_input" and refused.http_status is None
    assert "does not read the caller's files" in refused.message


def test_rules_and_runtime_pick_the_media_tool_by_the_files_type() -> None:
    from aiprime.agents.plans import media_plan
    from aiprime.agents.rules import choose_plan

    assert choose_plan('What is said in "/tmp/q.WAV"?').tools == ("transcribe",)
    assert choose_plan('Find stamps like "cat.svg"').tools == ("image_search",)
    assert media_plan('What is "TCP" in computing?') is None and media_plan("no quotes") is None
    assert choose_plan('What is "TCP" in computing?').tools == ("foldoc",)
