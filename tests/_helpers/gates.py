"""A tiny real gate for the drift and request-log tests, trained in seconds on real glosses."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from aiprime.moe.embeddings import embed_texts
from aiprime.moe.experts import domains
from aiprime.moe.networks import GateConfig, GateNet, save_model
from aiprime.serving.served_models import ModelSource
from aiprime.serving.smoke import fit

REPO = Path(__file__).resolve().parents[2]


def train_gate(table: Path, cache_dir: Path, out: Path, steps: int = 150) -> Path:
    """A GateNet fitted to the train rows of the classification table at `table`; the folder holding model.pt."""
    train = pd.read_parquet(table, columns=["text", "domain", "split"]).query("split == 'train'")
    names = list(domains())
    x = torch.from_numpy(embed_texts(train.text.tolist(), cache_dir))  # (N, 384)
    y = torch.tensor([names.index(d) for d in train.domain])
    torch.manual_seed(0)
    gate = fit(GateNet(GateConfig(n_domains=len(names), d_hidden=64, dropout=0.0)), x, y, steps)
    save_model(gate, out / "model.pt", {"classes": names, "role": "gate"})
    return out


def served_gate(folder: Path) -> Any:
    """The gate server's model object (kserve/gate/model.py), loaded in-process from `folder`, under a fresh
    name; its metrics go to prometheus' default registry (see the `default_metrics_registry` fixture)."""
    spec = importlib.util.spec_from_file_location("aiprime_gate_model", REPO / "kserve" / "gate" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.GateModel(f"gate-{uuid.uuid4().hex[:8]}", ModelSource(model_dir=folder))
    model.load()
    return model
