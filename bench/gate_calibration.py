"""Benchmark: gates of several sizes reading the text's and its word's embeddings, against an older gate.

Run: .venv/bin/python bench/gate_calibration.py [--root .] [--cache DIR] [--baseline FOLDER]
     [--hidden 0 16 256] [--train-questions 8192] [--val-questions 2048] [--test-questions 1000] [--seed 11]
     [--max-epochs 30] [--threads 2]
Data: the checkout's DVC-versioned classification table (every gloss) and a seeded random sample of its sense
questions per split (`aiprime.moe.dataset.read_questions`; the test sample's first 150 are the questions of
`bench/rag_routing.py --seed 11`), embedded with all-MiniLM-L6-v2 and cached under AIPRIME_HOME/embeddings.
Every question also has its quoted word embedded (`TaskSplit.word`); a gloss is its own word.
`--baseline` is an older gate folder (e.g. the registered champion's), scored as it was trained. For each
`--hidden` width (0: one linear layer) a gate is trained on the glosses joined with the train questions, and calibrated on the val glosses and questions, its threshold chosen
on the val questions (`aiprime.moe.fitting.train_gate`). Prints, on test glosses, test questions and rag_routing's questions: route accuracy, the
expected calibration error (15 bins) before and after temperature scaling, and the accuracy and coverage above
the threshold chosen on val; and each gate's parameters against the dense model's active parameters.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aiprime.moe import fitting
from aiprime.moe.calibration import expected_calibration_error, logits_of, softmax
from aiprime.moe.config import RunConfig
from aiprime.moe.dataset import TaskSplit, all_classes, build_splits, embed, read_questions
from aiprime.moe.experts import domains, gate_config
from aiprime.moe.networks import active_parameters, build_model, load_metadata, load_model
from aiprime.settings import Settings

RAG_ROUTING_QUESTIONS = 150  # bench/rag_routing.py's default sample


def question_splits(root: Path, cache: Path, sizes: dict[str, int], seed: int) -> dict[str, TaskSplit]:
    """A seeded random sample of `sizes[split]` sense questions per split, embedded."""
    table, version = read_questions(root)
    print(f"sense questions: {table.split.value_counts().to_dict()} (data version {version})", flush=True)
    return {name: embedded(table[table.split == name], n, seed, cache) for name, n in sizes.items()}


def embedded(split: pd.DataFrame, n: int, seed: int, cache: Path) -> TaskSplit:
    """`n` rows of a labelled text table drawn with `seed` (as `rag.evaluate.sample_queries` draws), embedded."""
    rows = split.sample(min(n, len(split)), random_state=seed)
    x, word = embed(rows.text.tolist(), cache), embed(rows.word.tolist(), cache)
    labels = (rows.synset_id.to_numpy(str), rows.lexname.to_numpy(str), rows.domain.to_numpy(str))
    return TaskSplit(x, *labels, word)


def scores(folder: Path, split: TaskSplit) -> dict[str, float]:
    """Route accuracy and ECE (raw and at the folder's temperature) of a gate on one split, and above its
    threshold (when it has one): accuracy and coverage."""
    path = folder / fitting.MODEL_FILE
    metadata, labels, module = load_metadata(path), list(domains()), load_model(path)
    y = fitting.encode(split.domain, labels, "bench")
    logits = logits_of(module, split.gate_x if module.config.n_inputs > 1 else split.x)
    raw, tempered = softmax(logits), softmax(logits, metadata.get("temperature", 1.0))
    result = {
        "rows": len(y),
        "parameters_over_dense": sum(p.numel() for p in module.parameters()) / dense_parameters(),
        "accuracy": float((tempered.argmax(1) == y).mean()),
        "ece_raw": expected_calibration_error(raw, y),
        "ece_calibrated": expected_calibration_error(tempered, y),
    }
    if "threshold" in metadata:
        above = tempered.max(1) >= metadata["threshold"]
        result |= {
            "coverage": float(above.mean()),
            "accuracy_above": float((tempered.argmax(1) == y)[above].mean()),
        }
    return result


def dense_parameters() -> int:
    """Active parameters of the dense model over the 45 classes (the unit the targets use)."""
    return active_parameters(build_model(fitting.dense_config(len(all_classes()))))


def report(name: str, folder: Path, test: dict[str, TaskSplit]) -> dict[str, dict[str, float]]:
    """Print and return a gate's scores on each test set."""
    rows = {what: scores(folder, split) for what, split in test.items()}
    print(f"\n{name}: {json.dumps(load_metadata(folder / fitting.MODEL_FILE).get('calibration', {}))}")
    for what, row in rows.items():
        print(
            f"  {what:<28} "
            + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="The checkout whose data/ to read.")
    parser.add_argument("--baseline", type=Path, help="An older gate's folder, scored as it is.")
    parser.add_argument("--cache", type=Path, help="Embedding cache (default AIPRIME_HOME/embeddings).")
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="*",
        default=[0, 16, 256],
        help="Gate hidden widths (0: linear; none: score --baseline only).",
    )
    parser.add_argument("--train-questions", type=int, default=8192)
    parser.add_argument("--val-questions", type=int, default=2048)
    parser.add_argument("--test-questions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--embed-only", action="store_true", help="Fill the embedding cache and stop.")
    parser.add_argument(
        "--out", type=Path, help="Keep the gates here (glosses/, both/) instead of a temp dir."
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = args.cache or Settings().home / "embeddings"
    sizes = {"train": args.train_questions, "val": args.val_questions, "test": args.test_questions}
    questions = question_splits(args.root, cache, sizes, args.seed)
    glosses, version = build_splits(args.root, cache)
    print(f"glosses: data version {version}", flush=True)
    if args.embed_only:
        return
    first = np.arange(min(RAG_ROUTING_QUESTIONS, len(questions["test"])))
    test = {
        "test glosses": glosses["test"],
        "test questions": questions["test"],
        f"rag_routing's {len(first)} questions": questions["test"].where(
            np.isin(np.arange(len(questions["test"])), first)
        ),
    }
    run = RunConfig(max_epochs=args.max_epochs)
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        out = args.out or Path(tmp)
        if args.baseline:
            report(f"baseline ({args.baseline})", args.baseline, test)
        for hidden in args.hidden:
            served = fitting.train_gate(
                glosses["train"],
                glosses["val"],
                out / f"hidden-{hidden}",
                run,
                questions=(questions["train"], questions["val"]),
                config=gate_config(d_hidden=hidden),
            )
            report(f"hidden {hidden} (0: linear), text + word", served, test)


if __name__ == "__main__":
    main()
