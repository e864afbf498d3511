"""A subset of the retrieval store to measure grounded answers on, when the full corpus is not ingested.

Ingesting all 147k chunks takes over an hour on 2 busy cores. `aiprime rag eval --answers N` needs only the
questions' own senses, the senses that compete with them, and enough other text to make retrieval honest.
This writes `<out>/splits` (documents.parquet cut to: the relevant synsets of the first N test and N val
questions `sample_queries` draws with `--seed`, every other synset sharing a lemma with one of them (the
confusers), and `--random` other documents of any source) beside `<out>/processed` (linked), then:

    aiprime rag ingest --splits <out>/splits --collection answers-subset
    aiprime rag eval --splits <out>/splits --collection answers-subset --queries N --answers N

Usage: python bench/rag_answer_subset.py --splits data/splits --out /tmp/answers-subset [--questions 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from aiprime.rag.evaluate import sample_queries


def lemmas_of(title: str) -> list[str]:
    """The lemmas of a WordNet document's title (`bank, banking concern`)."""
    return [lemma.strip().lower() for lemma in title.split(",") if lemma.strip()]


def subset_ids(documents: pd.DataFrame, relevant: set[str], n_random: int, seed: int) -> set[str]:
    """`relevant`, every WordNet document sharing a lemma with one of them, and `n_random` others."""
    wordnet = documents[documents.source == "wordnet"]
    by_lemma: dict[str, set[str]] = {}
    for doc_id, title in zip(wordnet.doc_id, wordnet.title, strict=True):
        for lemma in lemmas_of(title):
            by_lemma.setdefault(lemma, set()).add(doc_id)
    titles = dict(zip(wordnet.doc_id, wordnet.title, strict=True))
    confusers = {other for doc in relevant for lemma in lemmas_of(titles[doc]) for other in by_lemma[lemma]}
    rest = documents[~documents.doc_id.isin(relevant | confusers)]
    return relevant | confusers | set(rest.sample(n_random, random_state=seed).doc_id)


def main() -> None:
    """Write the subset folder and print what it holds."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=Path, default=Path("data/splits"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=200, help="Test and val questions each.")
    parser.add_argument("--random", type=int, default=3000, help="Other documents of any source.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    relevant = {
        doc
        for split in ("test", "val")
        for doc in sample_queries(args.splits, args.questions, args.seed, split=split).relevant
    }
    documents = pd.read_parquet(args.splits / "documents.parquet")
    keep = subset_ids(documents, relevant, args.random, args.seed)
    out = args.out / "splits"
    out.mkdir(parents=True, exist_ok=True)
    documents[documents.doc_id.isin(keep)].to_parquet(out / "documents.parquet", index=False)
    for name in ("queries.parquet", "classification.parquet"):
        (out / name).unlink(missing_ok=True)
        (out / name).symlink_to((args.splits / name).resolve())
    processed = args.out / "processed"
    if not processed.exists():
        processed.symlink_to((args.splits.parent / "processed").resolve())
    print(f"{len(keep):,} documents: {len(relevant)} relevant senses, their confusers, {args.random} random")


if __name__ == "__main__":
    main()
