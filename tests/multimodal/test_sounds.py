"""Reading the audio data in place: the stamps' recorded captions and sounds, the LibriVox clips."""

from __future__ import annotations

import pytest
from _helpers.image_pairs import write_librivox, write_stamp

from aiprime.errors import DataSourceMissing
from aiprime.multimodal.sounds import librivox_clips, stamp_clips
from aiprime.multimodal.stamps import read_stamps


def test_each_stamp_gives_its_english_caption_and_its_sound_in_its_fold(tmp_path):
    write_stamp(tmp_path / "animals", "frog", "A frog.")
    for suffix in ("_desc.ogg", "_desc_fr.ogg", ".ogg", "_fr.ogg"):  # the caption, translations, the sound
        (tmp_path / "animals" / f"frog{suffix}").write_bytes(b"OggS")
    write_stamp(tmp_path / "symbols" / "math", "seven", "Seven.")
    (tmp_path / "symbols" / "math" / "seven.wav").write_bytes(b"RIFF")
    write_stamp(tmp_path / "food", "bread", "Bread.")  # silent
    stamps = read_stamps(tmp_path)
    clips = stamp_clips(stamps, tmp_path)
    assert [(c.kind, c.name, c.path.name, c.text) for c in clips] == [
        ("spoken_caption", "animals/frog", "frog_desc.ogg", "A frog."),
        ("effect", "animals/frog", "frog.ogg", ""),
        ("spoken_sound", "symbols/math/seven", "seven.wav", ""),
    ]
    fold = {s.name: s.fold for s in stamps}
    assert all(c.fold == fold[c.name] for c in clips)


def test_librivox_clips_carry_their_transcripts(tmp_path):
    write_librivox(tmp_path, {"book-0870": "and mister john dashwood", "book-0880": "had then leisure"})
    clips = librivox_clips(tmp_path)
    assert [(c.name, c.path.name, c.text, c.fold) for c in clips] == [
        ("book-0870", "book-0870.wav", "and mister john dashwood", None),
        ("book-0880", "book-0880.wav", "had then leisure", None),
    ]


def test_a_missing_librivox_folder_names_the_package(tmp_path):
    with pytest.raises(DataSourceMissing, match="apt-get install pocketsphinx-testdata"):
        librivox_clips(tmp_path / "absent")
