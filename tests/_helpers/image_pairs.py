"""Synthetic image-caption data for the image tests: pairs whose features carry their caption, stamp folders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from aiprime.multimodal.evaluation import PairSet
from aiprime.multimodal.image_tower import FEATURE_DIM, NUM_CLASSES
from aiprime.multimodal.link import unit


def mixing_matrix(seed: int = 99) -> np.ndarray:
    """A fixed random map from caption space (384) to tower features (1280)."""
    return np.random.default_rng(seed).normal(size=(384, FEATURE_DIM)).astype(np.float32)


def synthetic_pairs(seed: int, count: int, mixing: np.ndarray) -> PairSet:
    """Captions (unit 384-d) and images whose features are `mixing` of the caption plus noise; random logits."""
    rng = np.random.default_rng(seed)
    captions = unit(rng.normal(size=(count, 384)))
    features = captions @ mixing + 0.1 * rng.normal(size=(count, FEATURE_DIM))
    logits = rng.normal(size=(count, NUM_CLASSES))
    outputs = np.concatenate([features, logits], axis=1).astype(np.float32)
    return PairSet(outputs, [f"caption {seed}-{i}" for i in range(count)], captions)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'


def write_stamp(folder: Path, name: str, caption: str | None, suffixes: tuple[str, ...] = (".png",)) -> None:
    """A Tux Paint-like stamp: NAME.png and/or NAME.svg, and NAME.txt with a blank line, the caption, a translation."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in suffixes:
        out = io.BytesIO()
        Image.new("RGBA", (4, 4)).save(out, format="PNG")
        (folder / f"{name}{suffix}").write_bytes(out.getvalue() if suffix == ".png" else SVG)
    if caption is not None:
        (folder / f"{name}.txt").write_text(f"\n{caption}\nfr.utf8=Une traduction.\n", encoding="utf-8")


DRAWING_HEAD = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:cc="http://web.resource.org/cc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'width="16" height="16">'
)


def drawing(
    title: str | None,
    keywords: tuple[str, ...] = (),
    agent_first: bool = False,
    width: int = 10,
    fill: str = "black",
) -> str:
    """An SVG whose metadata holds a work with `title` and `keywords` and, as the package's do, agents."""
    agent = "<dc:publisher><cc:Agent><dc:title>Open Clip Art Library</dc:title></cc:Agent></dc:publisher>"
    own = "" if title is None else f"<dc:title>{title}</dc:title>"
    subjects = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    work = f"{agent if agent_first else ''}{own}<dc:subject><rdf:Bag>{subjects}</rdf:Bag></dc:subject>"
    work += "" if agent_first else agent
    body = f'<rect width="{width}" height="10" fill="{fill}"/>'
    return f"{DRAWING_HEAD}<metadata><rdf:RDF><cc:Work>{work}</cc:Work></rdf:RDF></metadata>{body}</svg>"


def write_drawing(folder: Path, name: str, title: str, width: int = 10, fill: str = "black") -> None:
    """An openclipart-like drawing NAME.svg titled `title`, a rectangle `width` wide."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.svg").write_text(drawing(title, ("test",), width=width, fill=fill))


def write_librivox(folder: Path, transcripts: dict[str, str]) -> None:
    """A pocketsphinx-testdata-like folder: a WAV per clip id and the `transcription` file that lists them."""
    folder.mkdir(parents=True, exist_ok=True)
    for clip_id in transcripts:
        (folder / f"{clip_id}.wav").write_bytes(b"RIFF")
    lines = [f"<s> {text} </s> ({clip_id})" for clip_id, text in transcripts.items()]
    (folder / "transcription").write_text("\n".join(lines) + "\n")
