"""The audio data, read in place: the stamps' recorded English captions and sound effects (Debian
`tuxpaint-stamps-default`, GPL-2) and pocketsphinx-testdata's LibriVox clips with their reference transcripts.

A stamp `NAME` may have a recorded caption `NAME_desc.ogg` (its translations are `NAME_desc_xx.ogg`, left out)
and a sound `NAME.ogg` or `NAME.wav` (a translation of a sound is `NAME_xx.ogg`, never a stamp's name, so it is
left out too). A clip takes its stamp's fold, so the caption-disjoint folds hold for speech as for images. A
few stamp sounds are speech rather than effects (spoken digits and letters, the Apollo lander's "one small
step"): they are their own kind, `spoken_sound`, so that a speech-vs-sound score leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiprime.multimodal.stamps import Stamp, require_installed

LIBRIVOX_PACKAGE = "pocketsphinx-testdata"
# Stamp sounds that are speech, not effects: spoken digits, letters and dreidel letters, and the Apollo lander.
SPOKEN_SOUNDS = ("symbols/math/", "symbols/alphabets/", "seasonal/hanukkah/dreydl-", "space/apollo_lander")
ClipKind = Literal["spoken_caption", "effect", "spoken_sound", "librivox"]


@dataclass(frozen=True)
class Clip:
    """One audio file, what it says (a caption or a transcript; "" for an effect) and its fold."""

    kind: ClipKind
    name: str  # the stamp's name, or the LibriVox clip's id
    path: Path
    text: str
    fold: int | None  # the stamp's fold; None for LibriVox


def stamp_clips(stamps: list[Stamp], stamps_dir: Path) -> list[Clip]:
    """Each stamp's recorded caption and sound, in stamp order (caption first)."""
    clips = []
    for stamp in stamps:
        caption = stamps_dir / f"{stamp.name}_desc.ogg"
        if caption.is_file():
            clips.append(Clip("spoken_caption", stamp.name, caption, stamp.caption, stamp.fold))
        sound = next((p for s in (".ogg", ".wav") if (p := stamps_dir / f"{stamp.name}{s}").is_file()), None)
        if sound is not None:
            kind = "spoken_sound" if stamp.name.startswith(SPOKEN_SOUNDS) else "effect"
            clips.append(Clip(kind, stamp.name, sound, "", stamp.fold))
    return clips


def librivox_clips(librivox_dir: Path) -> list[Clip]:
    """The LibriVox clips listed in pocketsphinx's `transcription` file (`<s> words </s> (clip_id)`).

    Raises:
        DataSourceMissing: The folder is absent (the Debian package is not installed).
    """
    require_installed(librivox_dir, "LibriVox test clips", LIBRIVOX_PACKAGE, "AIPRIME_LIBRIVOX_DIR")
    clips = []
    for line in (librivox_dir / "transcription").read_text().splitlines():
        text, _, clip_id = line.rpartition("(")
        words = " ".join(text.replace("<s>", "").replace("</s>", "").split())
        name = clip_id.strip(" )")
        clips.append(Clip("librivox", name, librivox_dir / f"{name}.wav", words, None))
    return clips
