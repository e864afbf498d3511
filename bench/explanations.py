"""The gate's explanation methods measured on the same held-out glosses in one run.

Per method (aiprime.explain.METHODS: Captum integrated gradients, Kernel SHAP (the sampling one), auto), on
`--count` test-split glosses of the gate's task, explaining the gate's own first choice:
- faithfulness: mean drop of its probability when the top 20% of words by attribution are deleted, over the
  mean drop when as many random words are (target >= 2);
- stability: mean Spearman of the words' attributions before and after one word is swapped for a WordNet
  synonym (target >= 0.7);
- counterfactual: share of texts whose route changes by deleting <= 3 words, searched in the explanation's
  order (target >= 0.7);
- p95 of one explanation's wall time (target <= 2 s).
Reads files only (the gate's model.pt, the splits and the WordNet synsets): it starts no service.

Usage: python bench/explanations.py --gate DIR/model.pt --data DIR/data [--count 500] [--methods ig shap]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import pandas as pd

from aiprime.explain import METHODS, TextExplainer
from aiprime.explain.measures import MAX_DELETIONS, faithfulness_ratio, measure_text
from aiprime.rag.query_kinds import synonym_table
from aiprime.serving.names import route_name
from aiprime.serving.served_models import load_served
from aiprime.serving.text import TextClassifier, TextEncoder


def held_out(data: Path, count: int) -> list[str]:
    """`count` test-split glosses sampled with a fixed seed."""
    table = pd.read_parquet(data / "splits" / "classification.parquet", columns=["text", "split"])
    return table.query("split == 'test'").text.sample(count, random_state=0).tolist()


def gate_classifier(path: Path) -> TextClassifier:
    """The gate at `path` behind the encoder, as the gate server composes them."""
    served = load_served(path, "gate")
    routes = tuple(route_name(domain) for domain in served.classes)
    return TextClassifier(TextEncoder.load(), served.module, routes, served.temperature)


def summary(method: str, measures: list) -> str:
    """One line of figures for a method."""
    spearman = [m.spearman for m in measures if m.spearman is not None and not np.isnan(m.spearman)]
    found = [m.deletions is not None for m in measures]
    seconds = [m.seconds for m in measures]
    return (
        f"{method:5s} n={len(measures)} faithfulness={faithfulness_ratio([m.drops for m in measures]):.2f}x "
        f"stability={np.mean(spearman):.3f} (n={len(spearman)}) "
        f"counterfactual<={MAX_DELETIONS}={np.mean(found):.1%} "
        f"p50={np.percentile(seconds, 50):.2f}s p95={np.percentile(seconds, 95):.2f}s"
    )


def main() -> None:
    """Measure each method and print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gate", type=Path, required=True, help="The gate's model.pt (e.g. the champion's).")
    parser.add_argument("--data", type=Path, default=Path("data"), help="Holds splits/ and processed/.")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    args = parser.parse_args()
    texts = held_out(args.data, args.count)
    synonyms = synonym_table(
        pd.read_parquet(args.data / "processed" / "synsets.parquet", columns=["synset_id", "lemmas"])
    )
    explainer = TextExplainer(gate_classifier(args.gate))
    for method in args.methods:
        rng = random.Random(0)
        explainer.explain(texts[0], 0, method)  # warm-up: imports and the private copy are not timed
        print(
            summary(method, [measure_text(explainer, text, method, synonyms, rng) for text in texts]),
            flush=True,
        )


if __name__ == "__main__":
    main()
