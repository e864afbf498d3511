from __future__ import annotations

import shutil

import pytest

from aiprime.data.wordnet import (
    DATA_FILES,
    WORDNET30_LEXNAMES,
    copy_wordnet,
    lookup_synset,
    parse_data_file,
    parse_wordnet,
    read_lexnames,
    split_gloss,
)
from aiprime.errors import DataCorrupt, DataSourceMissing, InvalidInput


def test_parses_every_line_of_the_real_verb_file(debian_sources):
    verbs = parse_data_file(debian_sources.wordnet_dir / "data.verb", WORDNET30_LEXNAMES)

    assert len(verbs) == 13767
    assert {row["pos"] for row in verbs} == {"v"}
    assert {row["lexname"].split(".")[0] for row in verbs} == {"verb"}
    assert all(row["lemmas"] and row["gloss"] for row in verbs)


def test_dog_is_an_animal_with_its_gloss_example_and_hypernym(debian_sources):
    dog = lookup_synset(debian_sources.wordnet_dir, "n02084071")

    assert dog["lexname"] == "noun.animal"
    assert dog["lemmas"] == ["dog", "domestic dog", "Canis familiaris"]
    assert dog["gloss"].startswith("a member of the genus Canis")
    assert dog["gloss"].endswith("occurs in many breeds")
    assert dog["examples"] == ["the dog barked all night"]
    assert "@:n02083346" in dog["relations"]  # hypernym: canine


def test_satellites_count_as_adjectives_and_lose_their_markers(debian_sources):
    abounding = lookup_synset(debian_sources.wordnet_dir, "a00014358")  # "galore(ip)" in the file, pos "s"

    assert abounding["pos"] == "a"
    assert abounding["lemmas"] == ["abounding", "galore"]
    assert abounding["relations"] == ["&:a00013887"]


@pytest.mark.parametrize(
    ("gloss", "definition", "examples"),
    [
        ('a dog; "the dog barked"; "a second one"', "a dog", ["the dog barked", "a second one"]),
        ("no examples here", "no examples here", []),
        ('killed; as in "slain warriors"', 'killed; as in "slain warriors"', []),
        ('quick earnings, "a fast buck"', "quick earnings", ["a fast buck"]),
        ('necessary:"long on brains"', "necessary", ["long on brains"]),
        ('x; "one" - Shakespeare; "two', "x", ["one", "two"]),
    ],
)
def test_split_gloss_separates_definition_from_quoted_examples(gloss, definition, examples):
    assert split_gloss(gloss) == (definition, examples)


def test_truncated_file_names_file_line_and_reinstall(debian_sources, tmp_path):
    data = (debian_sources.wordnet_dir / "data.verb").read_bytes()
    for name in DATA_FILES:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "data.verb").write_bytes(data[: len(data) // 2])
    last_line = data[: len(data) // 2].count(b"\n") + 1

    with pytest.raises(DataCorrupt) as caught:
        parse_wordnet(tmp_path)

    message = str(caught.value)
    assert f"{tmp_path / 'data.verb'}:{last_line}:" in message
    assert "apt-get install --reinstall wordnet-base" in message


def test_malformed_pointer_count_is_reported_with_its_line(debian_sources, tmp_path):
    copy_wordnet(debian_sources.wordnet_dir, tmp_path, limit=3)
    lines = (tmp_path / "data.adv").read_bytes().split(b"\n")
    first_synset = next(i for i, line in enumerate(lines) if not line.startswith(b"  "))
    lines[first_synset] = lines[first_synset].replace(b" 0 ", b" 0 9", 1)  # breaks the field layout
    (tmp_path / "data.adv").write_bytes(b"\n".join(lines))

    with pytest.raises(DataCorrupt, match=rf"data\.adv:{first_synset + 1}: malformed synset line"):
        parse_wordnet(tmp_path)


def test_missing_directory_says_how_to_install(tmp_path):
    with pytest.raises(DataSourceMissing) as caught:
        parse_wordnet(tmp_path / "no-wordnet")

    assert "apt-get install wordnet-base" in str(caught.value)
    assert "AIPRIME_WORDNET_DIR" in str(caught.value)


def test_raw_copy_keeps_offsets_and_writes_lexnames(debian_sources, tmp_path):
    copy_wordnet(debian_sources.wordnet_dir, tmp_path, limit=50)

    synsets = parse_wordnet(tmp_path)

    assert len(synsets) == 4 * 50
    assert synsets.synset_id.is_monotonic_increasing
    assert read_lexnames(tmp_path) == WORDNET30_LEXNAMES
    assert (tmp_path / "lexnames").read_text().splitlines()[5] == "05\tnoun.animal\t1"


def test_lookup_rejects_a_malformed_id(debian_sources):
    with pytest.raises(InvalidInput, match="n02084071"):
        lookup_synset(debian_sources.wordnet_dir, "dog")


def test_lexnames_file_with_a_gap_is_corrupt(debian_sources, tmp_path):
    shutil.copy(debian_sources.wordnet_dir / "data.adv", tmp_path / "data.adv")
    (tmp_path / "lexnames").write_text("00\tadj.all\t3\n02\tadv.all\t4\n")

    with pytest.raises(DataCorrupt, match=r"lexnames:2"):
        read_lexnames(tmp_path)
