"""Tiny real models for smoke tests and benchmarks of the serving stack, in seconds, on real glosses.

`train_tiny` fits a small GateNet and one small ExpertNet per domain on a few hundred WordNet glosses
embedded with MiniLM, and saves each with the metadata contract the servers read (`aiprime.serving.served_models`)
under `<out>/<service name>/model.pt`, the layout `aiprime serve --models-dir` takes. `register_champions`
puts them in MLflow as the `champion` of `aiprime-gate` / `aiprime-expert-<domain>`. They are no
substitute for the training pipeline: a few hundred steps on a few hundred glosses.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from mlflow import MlflowClient
from torch import nn

from aiprime.errors import DataSourceMissing
from aiprime.moe.embeddings import embed_texts
from aiprime.moe.experts import domains
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import ExpertConfig, ExpertNet, GateConfig, GateNet, save_model
from aiprime.registry import mlflow_registry as registry
from aiprime.serving.names import domain_of, registered_model_name, service_name

SPLIT_FILE = Path("data/splits/classification.parquet")  # what `aiprime data ingest` writes


def classification_table(
    path: Path = SPLIT_FILE, wordnet_dir: Path = Path("/usr/share/wordnet")
) -> pd.DataFrame:
    """The gloss classification table: the DVC split if built, else parsed from the WordNet package.

    Raises:
        DataSourceMissing: neither exists (run `aiprime data ingest`, or install wordnet-base).
    """
    if Path(path).is_file():
        return pd.read_parquet(path, columns=["synset_id", "text", "lexname", "domain", "split"])
    from aiprime.data.tasks import classification_table as build
    from aiprime.data.wordnet import parse_wordnet

    try:
        return build(parse_wordnet(wordnet_dir))
    except DataSourceMissing as e:
        raise DataSourceMissing(f"No {path} and no WordNet: {e}. Run `aiprime data ingest`.") from e


def sample_glosses(table: pd.DataFrame, per_domain: int = 48) -> pd.DataFrame:
    """About `per_domain` training glosses per domain, spread evenly over its lexnames (deterministic)."""
    train = table[table.split == "train"].sort_values("synset_id")
    parts = []
    for _, rows in train.groupby("domain"):
        per_class = max(2, -(-per_domain // rows.lexname.nunique()))
        parts.append(rows.groupby("lexname").head(per_class))
    return pd.concat(parts, ignore_index=True)


def fit(module: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 1e-2) -> nn.Module:
    """Full-batch AdamW on cross-entropy plus the model's auxiliary loss; the module in eval mode."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr)
    module.train()
    for _ in range(steps):
        out = module(x)
        loss = F.cross_entropy(out.logits, y) + out.aux_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return module.eval()


def train_tiny(
    glosses: pd.DataFrame, out: Path, cache_dir: Path, steps: int = 150, seed: int = 0
) -> dict[str, Path]:
    """Train the gate and every expert on `glosses`; the model folder of each, by service name."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only contend (10x slower on a busy 2-core box)
    try:
        return _train_all(
            torch.from_numpy(embed_texts(glosses.text.tolist(), cache_dir)), glosses, out, steps, seed
        )
    finally:
        torch.set_num_threads(threads)


def _train_all(x: torch.Tensor, glosses: pd.DataFrame, out: Path, steps: int, seed: int) -> dict[str, Path]:
    names = list(domains())
    torch.manual_seed(seed)
    gate = GateNet(GateConfig(n_domains=len(names), d_hidden=64, dropout=0.0))
    y = torch.tensor([names.index(d) for d in glosses.domain])
    folders = {"gate": _save(fit(gate, x, y, steps), out / "gate", names, "gate")}
    for domain in names:
        rows = (glosses.domain == domain).to_numpy()
        classes = sorted(glosses.lexname[rows].unique())
        labels = torch.tensor([classes.index(c) for c in glosses.lexname[rows]])
        moe = MoEConfig(d_model=32, d_hidden=32, n_experts=2, top_k=1)
        expert = ExpertNet(ExpertConfig(n_classes=len(classes), n_layers=1, moe=moe))
        name = service_name("expert", domain)
        folders[name] = _save(fit(expert, x[rows], labels, steps), out / name, classes, "expert", domain)
    return folders


def _save(module: nn.Module, folder: Path, classes: list[str], role: str, domain: str | None = None) -> Path:
    metadata = {"classes": list(classes), "role": role} | ({"domain": domain} if domain else {})
    save_model(module, folder / "model.pt", metadata)
    return folder


def register_champions(
    tracking_uri: str, folders: dict[str, Path], experiment: str = "aiprime-smoke"
) -> list[str]:
    """Register every folder as a new version of its role's model and make it `champion`; the names."""
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    names = []
    for name, folder in folders.items():
        role, domain = ("gate", None) if name == "gate" else ("expert", domain_of(name))
        registered = registered_model_name(role, domain)
        run_id = client.create_run(experiment_id, run_name=name).info.run_id  # a run per model: own artifacts
        version = registry.register(
            tracking_uri, registered, folder, run_id, {"source": "aiprime.serving.smoke"}
        )
        client.set_registered_model_alias(registered, registry.CHAMPION, version)
        client.set_terminated(run_id)
        names.append(registered)
    return names
