"""Benchmark: expert utilisation of a SwitchMoE classifier trained with and without the balance loss.

Run: .venv/bin/python bench/moe_balance.py [--synthetic] [--rows 12000] [--epochs 12] [--experts 4] [--threads 1]
Data: WordNet glosses -> 45 lexnames from data/splits/classification.parquet (a seeded sample, embedded with
all-MiniLM-L6-v2 and cached under AIPRIME_HOME/embeddings) when that file exists, else synthetic clusters.
Prints the coefficient of variation (std / mean) of the tokens each expert is routed on the validation rows;
the target with the loss is <= 0.1.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aiprime.moe.embeddings import embed_texts
from aiprime.moe.experts import EXPERTS
from aiprime.moe.lightning import TrainConfig, fit
from aiprime.moe.networks import ExpertConfig, ExpertNet
from aiprime.settings import Settings

TABLE = Path("data/splits/classification.parquet")
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def real_data(rows: int, settings: Settings) -> Arrays:
    """A seeded sample of train (rows) and val (rows / 4) glosses, embedded, with lexname labels."""
    table = pd.read_parquet(TABLE, columns=["text", "lexname", "split"])
    labels = {name: i for i, name in enumerate(sorted(table.lexname.unique()))}
    parts = []
    for split, n in (("train", rows), ("val", rows // 4)):
        sample = table[table.split == split].sample(n=n, random_state=0)
        x = embed_texts(sample.text.tolist(), settings.home / "embeddings", batch_size=128)
        parts += [x, sample.lexname.map(labels).to_numpy()]
    return tuple(parts)


def synthetic_data(rows: int) -> Arrays:
    """Unit-norm 384-dim points around 24 centres of Zipf-like sizes, 8 classes (3 centres each)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(24, 384))
    sizes = 1 / np.arange(1, 25)
    cluster = rng.choice(24, size=rows + rows // 4, p=sizes / sizes.sum())
    x = centres[cluster] + rng.normal(size=(len(cluster), 384)) * 0.8
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    y = cluster % 8
    return x[:rows], y[:rows], x[rows:], y[rows:]


def utilisation(model: ExpertNet, x: np.ndarray) -> np.ndarray:
    """Share of the rows that the router of the first MoE layer sends to each expert (before capacity)."""
    with torch.no_grad():
        counts = model(torch.from_numpy(x)).moe[0].routed_counts.numpy()
    return counts / counts.sum()


def run(
    data: Arrays, alpha: float, experts: int, epochs: int, threads: int, out_dir: Path
) -> dict[str, object]:
    """Train one classifier with balance weight `alpha`; report utilisation CV and accuracy."""
    n_classes = int(max(data[1].max(), data[3].max())) + 1
    moe = dataclasses.replace(EXPERTS[0].moe, balance_alpha=alpha, n_experts=experts)
    config = ExpertConfig(n_classes=n_classes, n_layers=1, moe=moe)
    model, history = fit(
        *data,
        config,
        seed=0,
        max_epochs=epochs,
        out_dir=out_dir,
        train=TrainConfig(patience=3, num_threads=threads),
    )
    share = utilisation(model, data[2])
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(data[2])).logits.argmax(dim=-1).numpy() == data[3]).mean()
    best = history["epochs"][history["best_epoch"]]
    return {
        "alpha": alpha,
        "cv": share.std() / share.mean(),
        "share": share,
        "val_acc": accuracy,
        "dropped": best.get("train_dropped_frac", float("nan")),
        "epochs": len(history["epochs"]),
    }


def main() -> None:
    """Parse arguments, train with and without the balance loss, print both utilisations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--synthetic", action="store_true", help="use synthetic clusters even if real data exists"
    )
    parser.add_argument("--rows", type=int, default=12000, help="training rows (val gets a quarter as many)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--experts", type=int, default=EXPERTS[0].moe.n_experts, help="experts in the layer")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)"
    )
    args = parser.parse_args()
    real = TABLE.is_file() and not args.synthetic
    data = real_data(args.rows, Settings()) if real else synthetic_data(args.rows)
    print(
        f"data: {'WordNet glosses (real)' if real else 'synthetic'}, train {len(data[0])}, val {len(data[2])}, "
        f"classes {int(data[1].max()) + 1}; one SwitchMoE layer of the registry's expert config "
        f"with n_experts={args.experts}, top_k={EXPERTS[0].moe.top_k}, threads={args.threads}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results = [
            run(data, alpha, args.experts, args.epochs, args.threads, Path(tmp) / str(alpha))
            for alpha in (1e-2, 0.0)
        ]
    for r in results:
        print(
            f"balance_alpha={r['alpha']:<5} utilisation CV={r['cv']:.3f}  val_acc={r['val_acc']:.3f}  "
            f"train dropped={r['dropped']:.3f}  epochs={r['epochs']}  shares={np.round(r['share'], 3).tolist()}"
        )
    print(
        f"CV ratio (without / with the balance loss): {results[1]['cv'] / results[0]['cv']:.1f}x; "
        f"target CV <= 0.1 with it: {'met' if results[0]['cv'] <= 0.1 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
