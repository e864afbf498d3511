"""Images and sound as assets: the Tux Paint stamp dataset, the openclipart drawings, their tower outputs and
caption embeddings, the image-text link; the audio clips and their transcripts.

Group "media", kept out of `everything` (the first run embeds ~950 images: minutes on 2 cores); `media` runs
them. `stamp_dataset` writes a manifest (name, caption, fold, image sha256) to `<AIPRIME_HOME>/media/` whose
hash is its data version; the images stay where Debian installed them (GPL-2, never copied).
`drawing_embeddings` does the same for the drawings whose title names them (`clipart.captioned`, about 3,300).
`image_link` trains the projection on both sets' training folds and registers it in MLflow (`aiprime-image-link`);
`stamp_search_vectors` stores every stamp's image vector through the champion link as an `image` chunk of
the `stamps` collection, beside the text chunks in pgvector, for cross-modal search. `audio_dataset` writes the
audio manifest (the stamps' recorded captions and sounds, the LibriVox clips), and `audio_embeddings`
transcribes what they say and embeds the transcripts.
"""

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import get_args

import dagster as dg

from aiprime.moe.embeddings import embed_texts
from aiprime.multimodal.clipart import captioned, read_drawings
from aiprime.multimodal.image_tower import tower_id
from aiprime.multimodal.link import synset_vectors
from aiprime.multimodal.sounds import Clip, ClipKind, librivox_clips, stamp_clips
from aiprime.multimodal.speech import cached_transcripts, word_error_rate
from aiprime.multimodal.stamps import FOLDS, Stamp, read_stamps
from aiprime.multimodal.training import drawing_pairs, load_link, register_link, stamp_pairs, train_link
from aiprime.orchestration.resources import Workspace
from aiprime.serving.media_search import ingest_stamps
from aiprime.settings import Settings

GROUP = "media"
MANIFEST = "stamps.json"  # under <AIPRIME_HOME>/media/
AUDIO_MANIFEST = "audio.json"
SPOKEN_KINDS = ("spoken_caption", "librivox")  # the clips that say something: transcribed
# Whisper tiny.en measured 0.042 on the 5 LibriVox clips (bench/speech.py); more than this is a regression.
MAX_LIBRIVOX_WER = 0.15


def stamp_manifest(stamps: list[Stamp]) -> list[dict]:
    """One row per stamp: name, caption, fold and the sha256 of its image file."""
    return [
        {
            "name": s.name,
            "caption": s.caption,
            "fold": s.fold,
            "sha256": sha256_of(s.image),
        }
        for s in stamps
    ]


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fold_overlaps(manifest: list[dict]) -> list[str]:
    """Captions that occur in more than one fold (none, when the folds are caption-disjoint)."""
    folds: dict[str, set[int]] = {}
    for row in manifest:
        folds.setdefault(" ".join(row["caption"].lower().split()), set()).add(row["fold"])
    return sorted(caption for caption, found in folds.items() if len(found) > 1)


@dg.asset(group_name=GROUP, kinds={"debian"})
def stamp_dataset(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """The Tux Paint stamps with English captions and caption-disjoint folds, read in place (manifest only)."""
    stamps = read_stamps(workspace.settings.stamps_dir)
    manifest = stamp_manifest(stamps)
    text = json.dumps(manifest, indent=1) + "\n"
    path = workspace.settings.home / "media" / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    folds = Counter(row["fold"] for row in manifest)
    return dg.MaterializeResult(
        metadata={
            "stamps": len(manifest),
            "captions": len({row["caption"] for row in manifest}),
            "svg_only": sum(s.image.suffix == ".svg" for s in stamps),
            **{f"fold_{f}": folds.get(f, 0) for f in range(FOLDS)},
            "manifest": dg.MetadataValue.path(str(path)),
        },
        data_version=dg.DataVersion(hashlib.sha256(text.encode()).hexdigest()[:16]),
    )


@dg.asset_check(asset=stamp_dataset, blocking=True)
def stamp_folds_caption_disjoint(workspace: dg.ResourceParam[Workspace]) -> dg.AssetCheckResult:
    """No caption is in two folds, and every fold holds stamps."""
    manifest = json.loads((workspace.settings.home / "media" / MANIFEST).read_text())
    overlaps, folds = fold_overlaps(manifest), Counter(row["fold"] for row in manifest)
    empty = [f for f in range(FOLDS) if not folds.get(f)]
    return dg.AssetCheckResult(
        passed=not overlaps and not empty,
        metadata={"captions_in_two_folds": ", ".join(overlaps[:20]), "empty_folds": str(empty)},
    )


def clip_problems(stamps: list[dict], clips: list[dict]) -> tuple[list[str], list[str]]:
    """Of the audio manifest's clips: the stamp clips outside their stamp's fold (or of no stamp), and the
    spoken captions and LibriVox clips with no text."""
    folds = {row["name"]: row["fold"] for row in stamps}
    wrong_fold = [c["name"] for c in clips if c["kind"] != "librivox" and folds.get(c["name"]) != c["fold"]]
    silent = [c["name"] for c in clips if c["kind"] in SPOKEN_KINDS and not c["text"]]
    return wrong_fold, silent


def audio_clips(settings: Settings) -> list[Clip]:
    """The stamps' recorded captions and sounds, then the LibriVox clips."""
    return [
        *stamp_clips(read_stamps(settings.stamps_dir), settings.stamps_dir),
        *librivox_clips(settings.librivox_dir),
    ]


@dg.asset(group_name=GROUP, deps=[stamp_dataset], kinds={"debian"})
def audio_dataset(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """The stamps' recorded captions and sounds, each in its stamp's fold, and the LibriVox clips with their
    transcripts, read in place (manifest only: kind, name, text, fold, sha256)."""
    settings = workspace.settings
    clips = audio_clips(settings)
    manifest = [
        {"kind": c.kind, "name": c.name, "text": c.text, "fold": c.fold, "sha256": sha256_of(c.path)}
        for c in clips
    ]
    text = json.dumps(manifest, indent=1) + "\n"
    path = settings.home / "media" / AUDIO_MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    kinds = Counter(c.kind for c in clips)
    return dg.MaterializeResult(
        metadata={
            **{kind: kinds.get(kind, 0) for kind in get_args(ClipKind)},
            "manifest": dg.MetadataValue.path(str(path)),
        },
        data_version=dg.DataVersion(hashlib.sha256(text.encode()).hexdigest()[:16]),
    )


@dg.asset_check(asset=audio_dataset, blocking=True)
def audio_clips_follow_their_stamps(workspace: dg.ResourceParam[Workspace]) -> dg.AssetCheckResult:
    """Every stamp clip is in its stamp's fold, every spoken caption and LibriVox clip says something."""
    media = workspace.settings.home / "media"
    clips = json.loads((media / AUDIO_MANIFEST).read_text())
    wrong_fold, silent = clip_problems(json.loads((media / MANIFEST).read_text()), clips)
    passed = not wrong_fold and not silent
    fix = "The manifests disagree: materialise stamp_dataset and audio_dataset together (the job `media`)."
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"wrong_fold": wrong_fold[:20], "without_text": silent[:20], "clips": len(clips)},
        description=None if passed else fix,
    )


@dg.asset(
    group_name=GROUP,
    deps=[audio_dataset],
    kinds={"pytorch"},
    check_specs=[dg.AssetCheckSpec("librivox_word_error_rate", asset="audio_embeddings")],
)
def audio_embeddings(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """Whisper's transcripts of the spoken captions and the LibriVox clips and their MiniLM embeddings, cached
    by content under `<AIPRIME_HOME>/embeddings` (serving embeds each query's own transcript; nothing reads
    these at serving time); each kind's word error rate against what it says, and a check that LibriVox's
    stays within MAX_LIBRIVOX_WER."""
    cache = workspace.settings.home / "embeddings"
    spoken = [c for c in audio_clips(workspace.settings) if c.kind in SPOKEN_KINDS]
    heard = cached_transcripts([c.path.read_bytes() for c in spoken], cache)
    embed_texts(heard, cache)
    metadata: dict[str, float] = {}
    for kind in SPOKEN_KINDS:
        said = [c.text for c in spoken if c.kind == kind]
        metadata[f"{kind}_clips"] = len(said)
        metadata[f"{kind}_wer"] = word_error_rate(
            said, [h for c, h in zip(spoken, heard, strict=True) if c.kind == kind]
        )
    wer = metadata["librivox_wer"]
    check = dg.AssetCheckResult(
        check_name="librivox_word_error_rate",
        passed=wer <= MAX_LIBRIVOX_WER,
        metadata={"librivox_wer": wer, "bound": MAX_LIBRIVOX_WER},
        description=None
        if wer <= MAX_LIBRIVOX_WER
        else "The speech model or its decoding changed: run bench/speech.py.",
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


@dg.asset(group_name=GROUP, deps=[stamp_dataset], kinds={"pytorch"})
def stamp_embeddings(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """EfficientNet-Lite0 outputs of every stamp image and MiniLM embeddings of every caption and of the
    ImageNet synsets' glosses, cached by content under `<AIPRIME_HOME>/embeddings`."""
    settings = workspace.settings
    data = stamp_pairs(read_stamps(settings.stamps_dir), settings.home / "embeddings")
    synsets = synset_vectors(settings.wordnet_dir, settings.home / "embeddings")
    return dg.MaterializeResult(
        metadata={"images": len(data.folds), "tower": tower_id(), "synset_vectors": len(synsets)}
    )


@dg.asset(group_name=GROUP, kinds={"pytorch"})
def drawing_embeddings(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """EfficientNet-Lite0 outputs of the captioned openclipart drawings and MiniLM embeddings of their titles,
    cached by content under `<AIPRIME_HOME>/embeddings`; a drawing the upload checks refuse is left out."""
    drawings = captioned(read_drawings(workspace.settings.clipart_dir))
    data, refused = drawing_pairs(drawings, workspace.settings.home / "embeddings")
    folds = Counter(int(f) for f in data.folds)
    return dg.MaterializeResult(
        metadata={
            "drawings": len(data.folds),
            "refused": refused,
            "captions": len(set(data.pairs.captions)),
            **{f"fold_{f}": folds.get(f, 0) for f in range(FOLDS)},
        }
    )


@dg.asset(group_name=GROUP, deps=[stamp_embeddings, drawing_embeddings], kinds={"mlflow", "pytorch"})
def image_link(
    context: dg.AssetExecutionContext, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The image-text link trained on the stamps' and the drawings' training folds, registered in MLflow
    (`aiprime-image-link`) and promoted only if it beats the champion on the validation folds."""
    settings = workspace.settings
    cache = settings.home / "embeddings"
    data = stamp_pairs(read_stamps(settings.stamps_dir), cache)
    drawings, _ = drawing_pairs(captioned(read_drawings(settings.clipart_dir)), cache)
    synsets = synset_vectors(settings.wordnet_dir, cache)
    trained = train_link(data, synsets, drawings=drawings)
    promotion = register_link(settings.mlflow_url, trained, synsets)
    context.log.info(promotion.reason)
    return dg.MaterializeResult(
        metadata={
            **{k: float(v) for k, v in trained.metrics.items()},
            "promoted": promotion.promoted,
            "reason": promotion.reason,
        },
        data_version=dg.DataVersion(f"{promotion.name}@{promotion.challenger}"),
    )


@dg.asset(group_name=GROUP, deps=[image_link], kinds={"postgres"})
def stamp_search_vectors(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """Every stamp's image vector through the champion link, stored as an `image` chunk (`stamp:<path>`) of
    the `stamps` collection in pgvector, under the same HNSW index as the text chunks."""
    settings = workspace.settings
    stamps = read_stamps(settings.stamps_dir)
    written = ingest_stamps(workspace.app_db(), stamps, load_link(settings.mlflow_url), settings)
    return dg.MaterializeResult(metadata={"stamps": len(stamps), "written": written})


media_job = dg.define_asset_job(
    "media",
    selection=dg.AssetSelection.groups(GROUP),
    description="Build the stamp dataset, embed it and the drawings, train the image-text link (kept out of `everything`).",
)
