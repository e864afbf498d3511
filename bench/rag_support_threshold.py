"""Calibrate the support threshold of grounded answers on labelled val pairs and check it on test pairs.

Each pair is an answer phrasing a WordNet gloss, checked against the gloss of the question's relevant sense:
label 1 when it phrases that gloss, 0 when it phrases a confuser's (another sense of the same word).
`grounding.MIN_OVERLAP` is the val threshold this prints.

Usage: python bench/rag_support_threshold.py [--splits data/splits] [--questions 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from aiprime.rag.answer_eval import calibrate_support, support_examples
from aiprime.rag.grounding import MIN_OVERLAP, support


def main() -> None:
    """Print the val threshold and how it, and the one in use, separate the test pairs."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    threshold, figures = calibrate_support(support_examples(args.splits, args.questions, seed=0, split="val"))
    print("val:", {k: round(v, 4) for k, v in figures.items()})
    test = support_examples(args.splits, args.questions, seed=1, split="test")
    scores = np.array(
        [support(a, q, [c]) for q, a, c in zip(test.question, test.answer, test.cited, strict=True)]
    )
    labels = test.label.to_numpy()
    for name, value in (("val threshold", threshold), ("MIN_OVERLAP in use", MIN_OVERLAP), ("0.5", 0.5)):
        kept, refused = (scores[labels == 1] >= value).mean(), (scores[labels == 0] < value).mean()
        print(f"test, {name} {value:.3f}: supported kept {kept:.3f}, unsupported refused {refused:.3f}")


if __name__ == "__main__":
    main()
