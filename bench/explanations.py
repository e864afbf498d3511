"""The explanation methods of the gate (or an expert) measured on the same held-out glosses in one run.

Per method (aiprime.explain.METHODS: Captum integrated gradients, Kernel SHAP, Shapley value sampling,
auto), on `--count` test-split glosses of the gate's task (with `--expert`, of the expert's domain), explaining
the model's own first choice:
- faithfulness: mean drop of its probability when the top 20% of words by attribution are deleted, over the
  mean drop when as many random words are (target >= 2);
- stability: mean Spearman of the words' attributions before and after one word is swapped for a WordNet
  synonym (target >= 0.7);
- counterfactual: share of texts whose route changes by deleting <= 3 words, searched in the explanation's
  order (target >= 0.7);
- p50 and p95 of one explanation's wall time and CPU time (target <= 2 s), and completeness: the share of
  explanations whose attributions add up within the tolerance, and the p95 of |delta|.
Every `--every` texts it prints the figures so far (a run stopped early still reports), with the load
average; `--records FILE` appends one JSON line per text. `--ig-steps 16 24 32` instead prints how many
explanations integrated gradients completes per step count, with their CPU time.
Reads files only (the model's model.pt, the splits and the WordNet synsets): it starts no service.

Usage: OMP_NUM_THREADS=1 python bench/explanations.py --gate DIR/model.pt | --expert DIR/model.pt --domain D
    --data DIR/data [--count 500]
    [--methods ig shap sampling] [--every 50] [--records FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aiprime.explain import DEFAULT_TOLERANCE, METHODS, TextExplainer
from aiprime.explain.measures import MAX_DELETIONS, TextMeasures, faithfulness_ratio, measure_text
from aiprime.rag.query_kinds import synonym_table
from aiprime.serving.names import route_name
from aiprime.serving.served_models import load_served
from aiprime.serving.text import TextClassifier, TextEncoder


def held_out(data: Path, count: int, domain: str | None = None) -> list[str]:
    """`count` test-split glosses (of `domain` only, when given) sampled with a fixed seed."""
    table = pd.read_parquet(data / "splits" / "classification.parquet", columns=["text", "domain", "split"])
    test = table[(table.split == "test") & ((table.domain == domain) if domain else True)]
    return test.text.sample(count, random_state=0).tolist()


def gate_classifier(path: Path) -> TextClassifier:
    """The gate at `path` behind the encoder, as the gate server composes them."""
    served = load_served(path, "gate")
    routes = tuple(route_name(domain) for domain in served.classes)
    return TextClassifier(TextEncoder.load(), served.module, routes, served.temperature)


def expert_classifier(path: Path, domain: str) -> TextClassifier:
    """The expert of `domain` at `path` behind the encoder, as the expert server composes them."""
    served = load_served(path, "expert", domain)
    return TextClassifier(TextEncoder.load(), served.module, served.classes)


def summary(method: str, measures: list[TextMeasures]) -> str:
    """One line of figures for a method, with the load average."""
    spearman = [m.spearman for m in measures if m.spearman is not None and not np.isnan(m.spearman)]
    found = [m.deletions is not None for m in measures]
    wall, cpu = [m.seconds for m in measures], [m.cpu_seconds for m in measures]
    deltas = np.abs([m.delta for m in measures])
    return (
        f"{method:8s} n={len(measures)} faithfulness={faithfulness_ratio([m.drops for m in measures]):.2f}x "
        f"stability={np.mean(spearman):.3f} (n={len(spearman)}) "
        f"counterfactual<={MAX_DELETIONS}={np.mean(found):.1%} "
        f"wall p50={np.percentile(wall, 50):.2f}s p95={np.percentile(wall, 95):.2f}s "
        f"cpu p50={np.percentile(cpu, 50):.2f}s p95={np.percentile(cpu, 95):.2f}s "
        f"complete={np.mean(deltas <= DEFAULT_TOLERANCE):.1%} |delta| p95={np.percentile(deltas, 95):.4f} "
        f"load={os.getloadavg()[0]:.1f}"
    )


def measure_method(explainer: TextExplainer, method: str, texts: list[str], synonyms: dict, args) -> None:
    """Measure one method on every text, printing the figures every `args.every` texts and at the end."""
    rng = random.Random(0)
    explainer.explain(texts[0], 0, method)  # warm-up: imports and the private copy are not timed
    measures = []
    for i, text in enumerate(texts, 1):
        measures.append(measure_text(explainer, text, method, synonyms, rng))
        if args.records:
            with args.records.open("a") as out:
                out.write(
                    json.dumps({"method": method, "text": text, **dataclasses.asdict(measures[-1])}) + "\n"
                )
        if i % args.every == 0 or i == len(texts):
            print(summary(method, measures), flush=True)


def ig_steps(explainer: TextExplainer, texts: list[str], steps: list[int]) -> None:
    """Per step count: the share of IG explanations within the tolerance, |delta| p95 and CPU time p95."""
    from aiprime.explain.gradients import integrated_gradients

    classifier = explainer.classifier.copy()
    targets = [int(p.argmax()) for p in classifier.predict_texts(texts)]
    for n in steps:
        deltas, cpu = [], []
        for text, target in zip(texts, targets, strict=True):
            start = time.process_time()
            deltas.append(abs(integrated_gradients(classifier, text, target, min_steps=n, max_steps=n).delta))
            cpu.append(time.process_time() - start)
        print(
            f"ig steps={n} n={len(texts)} complete={np.mean(np.array(deltas) <= DEFAULT_TOLERANCE):.1%} "
            f"|delta| p50={np.median(deltas):.4f} p95={np.percentile(deltas, 95):.4f} "
            f"cpu p95={np.percentile(cpu, 95):.3f}s load={os.getloadavg()[0]:.1f}",
            flush=True,
        )


def main() -> None:
    """Measure each method and print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--gate", type=Path, help="The gate's model.pt (e.g. the champion's).")
    model.add_argument(
        "--expert", type=Path, help="An expert's model.pt; its domain's glosses are explained."
    )
    parser.add_argument("--domain", help="The expert's domain (living, artifacts, ...): with --expert.")
    parser.add_argument("--data", type=Path, default=Path("data"), help="Holds splits/ and processed/.")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--every", type=int, default=50, help="Print the figures so far every N texts.")
    parser.add_argument("--records", type=Path, help="Append one JSON line of measures per text here.")
    parser.add_argument("--ig-steps", type=int, nargs="+", help="Only sweep IG's step counts.")
    args = parser.parse_args()
    if args.expert and not args.domain:
        parser.error("--expert needs --domain, the expert's domain (e.g. artifacts).")
    texts = held_out(args.data, args.count, args.domain if args.expert else None)
    classifier = expert_classifier(args.expert, args.domain) if args.expert else gate_classifier(args.gate)
    explainer = TextExplainer(classifier)
    if args.ig_steps:
        ig_steps(explainer, texts, args.ig_steps)
        return
    synonyms = synonym_table(
        pd.read_parquet(args.data / "processed" / "synsets.parquet", columns=["synset_id", "lemmas"])
    )
    for method in args.methods:
        measure_method(explainer, method, texts, synonyms, args)


if __name__ == "__main__":
    main()
