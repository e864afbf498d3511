"""The media assets: the stamp and audio manifests and their checks, the drawings, the link and the audio embeddings."""

from __future__ import annotations

import json
import shutil

import dagster as dg
from _helpers.image_pairs import write_drawing, write_librivox, write_stamp

from aiprime.multimodal.sounds import librivox_clips
from aiprime.orchestration.media_assets import (
    AUDIO_MANIFEST,
    MANIFEST,
    audio_clips_follow_their_stamps,
    audio_dataset,
    audio_embeddings,
    clip_problems,
    drawing_embeddings,
    fold_overlaps,
    image_link,
    stamp_dataset,
    stamp_embeddings,
    stamp_folds_caption_disjoint,
)
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings


def test_stamp_dataset_writes_a_manifest_versioned_by_content_and_passes_its_check(tmp_path):
    stamps = tmp_path / "stamps"
    for i, caption in enumerate(["A frog.", *(f"Stamp number {n}." for n in range(12))]):
        write_stamp(stamps / "set", f"stamp{i:02d}", caption)
    write_stamp(stamps / "set", "stamp13", "A frog.")
    settings = Settings(home=tmp_path / "home", stamps_dir=stamps, _env_file=None)
    resources = {"workspace": Workspace(tmp_path, settings)}
    result = dg.materialize([stamp_dataset, stamp_folds_caption_disjoint], resources=resources)
    assert result.success
    manifest = json.loads((settings.home / "media" / MANIFEST).read_text())
    assert [row["name"] for row in manifest] == [f"set/stamp{i:02d}" for i in range(14)]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    first = result.asset_materializations_for_node("stamp_dataset")[0]
    assert first.metadata["stamps"].value == 14 and first.metadata["captions"].value == 13

    write_stamp(stamps / "set", "stamp14", "A kite.")
    again = dg.materialize([stamp_dataset], resources=resources)
    second = again.asset_materializations_for_node("stamp_dataset")[0]
    assert second.tags["dagster/data_version"] != first.tags["dagster/data_version"]


def test_a_caption_in_two_folds_is_reported():
    rows = [
        {"caption": "A frog.", "fold": 1},
        {"caption": "a  frog.", "fold": 2},
        {"caption": "A cat.", "fold": 0},
    ]
    assert fold_overlaps(rows) == ["a frog."]


def test_media_assets_train_and_register_the_link(tmp_path, fresh_mlflow_url, embedding_cache):
    stamps, clipart = tmp_path / "stamps", tmp_path / "clipart"
    for n in range(30):
        write_stamp(stamps / "set", f"stamp{n:02d}", f"Stamp number {n}.")
    for n in range(20):
        write_drawing(
            clipart / "set", f"drawing{n:02d}", f"Drawing number {n}", width=2 + n % 14, fill=f"#{n:02x}8040"
        )
    damaged = (clipart / "set" / "drawing00.svg").read_text().replace("</svg>", "<rect width='1'")
    (clipart / "set" / "damaged.svg").write_text(damaged.replace("Drawing number 0", "Damaged"))
    settings = Settings(
        home=tmp_path / "home", stamps_dir=stamps, clipart_dir=clipart, mlflow_tracking_uri=fresh_mlflow_url,
        _env_file=None,
    )  # fmt: skip
    settings.home.mkdir()
    (settings.home / "embeddings").symlink_to(embedding_cache)  # the glosses' embeddings, kept across runs
    assets = [stamp_dataset, stamp_folds_caption_disjoint, stamp_embeddings, drawing_embeddings, image_link]
    result = dg.materialize(assets, resources={"workspace": Workspace(tmp_path, settings)})
    assert result.success
    (drawings,) = result.asset_materializations_for_node("drawing_embeddings")
    assert drawings.metadata["drawings"].value == 20 and drawings.metadata["refused"].value == 1
    (link,) = result.asset_materializations_for_node("image_link")
    assert link.metadata["promoted"].value is True
    assert link.tags["dagster/data_version"] == "aiprime-image-link@1"
    assert 0 <= link.metadata["drawings_test/recall_at_10"].value <= 1  # scored on the drawings' test fold


def test_audio_dataset_lists_every_clip_in_its_stamps_fold_and_passes_its_check(tmp_path):
    stamps, librivox = tmp_path / "stamps", tmp_path / "librivox"
    for n in range(6):
        write_stamp(stamps / "animals", f"animal{n}", f"Animal number {n}.")
        (stamps / "animals" / f"animal{n}_desc.ogg").write_bytes(b"OggS" + bytes([n]))
    (stamps / "animals" / "animal0.ogg").write_bytes(b"OggS effect")
    write_librivox(librivox, {"book-0870": "and mister john dashwood"})
    settings = Settings(home=tmp_path / "home", stamps_dir=stamps, librivox_dir=librivox, _env_file=None)
    assets = [stamp_dataset, audio_dataset, audio_clips_follow_their_stamps]
    result = dg.materialize(assets, resources={"workspace": Workspace(tmp_path, settings)})
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    (audio,) = result.asset_materializations_for_node("audio_dataset")
    counts = {k: audio.metadata[k].value for k in ("spoken_caption", "effect", "spoken_sound", "librivox")}
    assert counts == {"spoken_caption": 6, "effect": 1, "spoken_sound": 0, "librivox": 1}
    manifest = json.loads((settings.home / "media" / AUDIO_MANIFEST).read_text())
    stamp_folds = {
        row["name"]: row["fold"] for row in json.loads((settings.home / "media" / MANIFEST).read_text())
    }
    assert all(row["fold"] == stamp_folds[row["name"]] for row in manifest if row["kind"] != "librivox")


def test_a_clip_outside_its_stamps_fold_or_saying_nothing_is_reported():
    stamps = [{"name": "animals/frog", "fold": 2}, {"name": "animals/cat", "fold": 0}]
    clips = [
        {"kind": "spoken_caption", "name": "animals/frog", "text": "A frog.", "fold": 2},
        {"kind": "effect", "name": "animals/cat", "text": "", "fold": 1},
        {"kind": "spoken_caption", "name": "animals/cat", "text": "", "fold": 0},
        {"kind": "librivox", "name": "book-0870", "text": "", "fold": None},
    ]
    assert clip_problems(stamps, clips) == (["animals/cat"], ["animals/cat", "book-0870"])
    assert clip_problems(stamps, clips[:1]) == ([], [])


def test_audio_embeddings_transcribe_what_is_said_and_check_librivox(tmp_path, embedding_cache):
    installed = Settings(_env_file=None)
    stamps, librivox = tmp_path / "stamps", tmp_path / "librivox"
    write_stamp(stamps / "animals", "frog", "A frog.")
    shutil.copyfile(
        installed.stamps_dir / "animals/amphibians/frog_desc.ogg", stamps / "animals" / "frog_desc.ogg"
    )
    clip = librivox_clips(installed.librivox_dir)[0]
    write_librivox(librivox, {clip.name: clip.text})
    shutil.copyfile(clip.path, librivox / clip.path.name)  # the real recording over the placeholder
    settings = Settings(home=tmp_path / "home", stamps_dir=stamps, librivox_dir=librivox, _env_file=None)
    settings.home.mkdir()
    (settings.home / "embeddings").symlink_to(embedding_cache)
    assets = [stamp_dataset, audio_dataset, audio_embeddings]
    result = dg.materialize(assets, resources={"workspace": Workspace(tmp_path, settings)})
    assert result.success
    (audio,) = result.asset_materializations_for_node("audio_embeddings")
    assert audio.metadata["spoken_caption_clips"].value == 1 and audio.metadata["librivox_clips"].value == 1
    assert audio.metadata["librivox_wer"].value <= 0.15
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "librivox_word_error_rate" and check.passed
