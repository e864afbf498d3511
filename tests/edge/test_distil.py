"""`aiprime.edge.distil`: heads fine-tuned onto the int8 encoder's embeddings, kept only when they agree more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from aiprime.edge import distil
from aiprime.edge.bundle import Distillation, ValRows, build
from aiprime.edge.runtime import MANIFEST, Encoder
from aiprime.moe.embeddings import model_path
from aiprime.moe.fitting import MODEL_FILE
from aiprime.moe.networks import load_model
from aiprime.rag import onnx_embed


@pytest.fixture(scope="module")
def int8_pairs(gloss_splits: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, distil.Paired]:
    """The subset's train and val rows embedded by the fp32 encoder and by the int8 one, by split name."""
    encoder = Encoder(onnx_embed.verified_model_file(), model_path() / "tokenizer.json", threads=1)
    cache = tmp_path_factory.mktemp("int8-cache")
    return {
        name: distil.Paired(split.x, distil.int8_embeddings(texts, cache, encoder.embed))
        for name, (split, texts) in gloss_splits.items()
    }


def kl_to_teacher(student, teacher, rows: distil.Paired, t: float = 2.0) -> float:
    """KL(teacher on fp32 || student on int8) at temperature t, the loss distillation minimises."""
    target = F.softmax(distil.logits_of(teacher, rows.x_fp32) / t, dim=1)
    log_probs = F.log_softmax(distil.logits_of(student, rows.x_int8) / t, dim=1)
    return float(F.kl_div(log_probs, target, reduction="batchmean"))


def test_int8_embeddings_are_cached_by_content(gloss_splits: dict, tmp_path: Path):
    calls = []

    def encode(texts: list[str]):
        calls.append(len(texts))
        return Encoder(onnx_embed.verified_model_file(), model_path() / "tokenizer.json").embed(texts)

    texts = gloss_splits["val"][1][:20]
    first = distil.int8_embeddings(texts, tmp_path, encode)
    again = distil.int8_embeddings(texts, tmp_path, encode)
    assert calls == [20]
    assert (first == again).all()


def test_distilled_gate_matches_the_champion_on_int8_rows_better(edge_champions, int8_pairs):
    teacher = load_model(edge_champions.gate.folder / MODEL_FILE)
    train = int8_pairs["train"]
    student = distil.distil_head(teacher, train)
    assert kl_to_teacher(student, teacher, train) < kl_to_teacher(teacher, teacher, train)
    assert all(not torch.equal(a, b) for a, b in zip(student.parameters(), teacher.parameters(), strict=True))


def test_a_copy_that_agrees_less_is_not_kept(edge_champions, int8_pairs):
    teacher = load_model(edge_champions.gate.folder / MODEL_FILE)
    wrecked = distil.DistilConfig(epochs=3, lrs=(1.0,))  # steps so large the copy forgets the champion
    adapted = distil.adapt(teacher, int8_pairs["train"], int8_pairs["val"], wrecked)
    assert adapted.agreement_after < adapted.agreement_before
    assert adapted.module is teacher and not adapted.distilled


def test_manifest_records_each_heads_distillation(tmp_path: Path, edge_champions, fitted_rows, gloss_splits):
    split, texts = gloss_splits["train"]
    train = ValRows(texts, split.lexname, split.x)
    manifest = build(
        tmp_path / "bundle", edge_champions, fitted_rows, "none", distillation=Distillation(train, tmp_path)
    )
    written = json.loads((tmp_path / "bundle" / MANIFEST).read_text())
    assert written["distillation"]["train_rows"] == len(texts)
    for entry in [written["gate"], *written["experts"].values()]:
        record = entry["distilled"]
        assert record["kept"] == (record["val_agreement_after"] > record["val_agreement_before"])
        assert {"registered", "version"} <= entry.keys()
    assert manifest["quality"]["agreement"] >= 0.99
