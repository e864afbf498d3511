"""Cross-modal search end to end: the media assets store the stamps' image vectors in pgvector, then text and
image queries find them (and the text chunks) through the one HNSW index."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from _helpers.bow_embedder import bow_embedder
from PIL import Image
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from aiprime.cli import app
from aiprime.db.engine import connect
from aiprime.errors import InvalidInput, PayloadTooLarge
from aiprime.orchestration.media_assets import (
    drawing_embeddings,
    image_link,
    stamp_dataset,
    stamp_embeddings,
    stamp_folds_caption_disjoint,
    stamp_search_vectors,
)
from aiprime.orchestration.resources import Workspace
from aiprime.rag.corpus import Document
from aiprime.rag.ingest import ingest
from aiprime.serving.media_search import search_image, search_text
from aiprime.settings import Settings

STAMPS = 30


def write_noise_stamp(folder: Path, name: str, caption: str, seed: int) -> None:
    """A stamp whose PNG is seeded noise, so every stamp's image (and vector) differs."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / f"{name}.png")
    (folder / f"{name}.txt").write_text(f"\n{caption}\nfr.utf8=...\n")


@pytest.fixture(scope="module")
def stamp_store(tmp_path_factory, mlflow_url, pg_server_url, embedding_cache) -> Settings:
    """The media assets materialised on 30 noise stamps, and a small text collection beside them."""
    root = tmp_path_factory.mktemp("media-search")
    for n in range(STAMPS):
        write_noise_stamp(root / "stamps" / "set", f"stamp{n:02d}", f"Stamp number {n}.", seed=n)
    (root / "clipart").mkdir()  # no drawings: the link trains on the stamps alone
    settings = Settings(home=root / "home", stamps_dir=root / "stamps", clipart_dir=root / "clipart",
                        mlflow_tracking_uri=mlflow_url, database_url=pg_server_url,
                        rag_collection="media-search-text", _env_file=None)  # fmt: skip
    settings.home.mkdir()
    (settings.home / "embeddings").symlink_to(embedding_cache)
    assets = [stamp_dataset, stamp_folds_caption_disjoint, stamp_embeddings, drawing_embeddings, image_link,
              stamp_search_vectors]  # fmt: skip
    result = dg.materialize(assets, resources={"workspace": Workspace(root, settings)})
    assert result.success
    (stored,) = result.asset_materializations_for_node("stamp_search_vectors")
    assert stored.metadata["stamps"].value == STAMPS and stored.metadata["written"].value == STAMPS
    docs = [
        Document(f"wn:{i}", "wordnet", "living", f"frog {i}", f"a small frog number {i}") for i in range(4)
    ]
    ingest(Workspace(root, settings).app_db(), docs, bow_embedder(), collection=settings.rag_collection)
    return settings


@pytest.fixture(scope="module")
def engine(app_db_url: str) -> Engine:
    return connect(app_db_url)


def png_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_an_image_finds_itself_first_among_the_stamps(stamp_store, engine):
    query = png_bytes(stamp_store.stamps_dir / "set" / "stamp07.png")
    hits = search_image(engine, query, "image", stamp_store, k=5)
    assert hits[0].doc_id == "stamp:set/stamp07" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].title == "Stamp number 7." and len(hits) == 5


def test_an_image_searches_the_text_chunks_only_when_asked_for_text(stamp_store, engine):
    query = png_bytes(stamp_store.stamps_dir / "set" / "stamp03.png")
    hits = search_image(engine, query, "text", stamp_store, k=10)
    assert sorted(h.doc_id for h in hits) == [f"wn:{i}" for i in range(4)]


def test_text_finds_only_image_chunks_when_asked_for_images(stamp_store, engine):
    hits = search_text(engine, "a stamp with a number", "image", stamp_store, k=STAMPS + 5)
    assert len(hits) == STAMPS and all(h.doc_id.startswith("stamp:set/") for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_bad_images_are_refused_naming_the_field(stamp_store, engine):
    with pytest.raises(InvalidInput, match=r"images\[0\]"):
        search_image(engine, b"RIFF\x00\x00\x00\x00WAVEfmt ", "image", stamp_store)
    with pytest.raises(PayloadTooLarge):
        search_image(engine, b"\x89PNG\r\n\x1a\n" + bytes(21_000_000), "image", stamp_store)
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="JPEG")
    with pytest.raises(InvalidInput, match=r"images\[0\]"):
        search_image(engine, out.getvalue()[:20], "image", stamp_store)


def test_the_search_command_prints_ranked_ids_and_scores_as_json(stamp_store, monkeypatch):
    for name, value in [("HOME", stamp_store.home), ("DATABASE_URL", stamp_store.database_url),
                        ("MLFLOW_TRACKING_URI", stamp_store.mlflow_tracking_uri),
                        ("STAMPS_DIR", stamp_store.stamps_dir), ("RAG_COLLECTION", stamp_store.rag_collection)]:  # fmt: skip
        monkeypatch.setenv(f"AIPRIME_{name}", str(value))
    image = stamp_store.stamps_dir / "set" / "stamp11.png"
    result = CliRunner().invoke(
        app, ["search", "--image", str(image), "--modality", "image", "--k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["modality"] == "image" and [r["rank"] for r in found["results"]] == [1, 2, 3]
    assert found["results"][0]["doc_id"] == "stamp:set/stamp11" and found["results"][0]["score"] > 0.9999

    by_text = CliRunner().invoke(app, ["search", "a stamp", "--modality", "image", "--json"])
    assert by_text.exit_code == 0, by_text.output
    assert all(r["doc_id"].startswith("stamp:") for r in json.loads(by_text.stdout)["results"])


def test_the_search_command_searches_by_what_a_recording_says(stamp_store, monkeypatch, tmp_path):
    for name, value in [("HOME", stamp_store.home), ("DATABASE_URL", stamp_store.database_url),
                        ("MLFLOW_TRACKING_URI", stamp_store.mlflow_tracking_uri)]:  # fmt: skip
        monkeypatch.setenv(f"AIPRIME_{name}", str(value))
    spoken = tmp_path / "query.wav"  # espeak-ng: a synthetic voice
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken), "a stamp with a number"], check=True)

    result = CliRunner().invoke(app, ["search", "--audio", str(spoken), "--modality", "image", "--json"])

    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert "number" in found["transcript"].lower() and found["query"] == found["transcript"]
    assert found["results"] and all(r["doc_id"].startswith("stamp:set/") for r in found["results"])


def test_the_search_command_refuses_a_sound_effect_naming_what_is_supported(stamp_store, monkeypatch):
    monkeypatch.setenv("AIPRIME_HOME", str(stamp_store.home))
    rooster = Settings().stamps_dir / "animals/birds/rooster.ogg"
    if not rooster.is_file():
        pytest.skip(
            f"Tux Paint's stamps are not at {rooster.parent}: apt-get install tuxpaint-stamps-default"
        )

    result = CliRunner().invoke(app, ["search", "--audio", str(rooster)])

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--audio: no speech found" in result.output and "spoken English" in result.output
