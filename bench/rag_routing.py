"""Does the gate's route help retrieval? Relevant-in-top-k through the running RAG stack, with and without it.

For a seeded sample of test questions (`aiprime.rag.evaluate.sample_queries`), asks the served gate which
expert it routes to (and with what probability), then asks the served retriever twice: as the RAG graph
does (an expert's record, so the route's domain is preferred) and as a plain question (no domain). Prints
the share of questions whose relevant sense is among the k hits each way, how often the gate's route is the
question's true domain, and the same split by the gate's probability. The retriever re-ranks as it serves
(the registered champion, when there is one).

Run: `aiprime serve --rag --detach`, then `python bench/rag_routing.py [--queries 150] [--seed 11]
[--split test]` from the repository root (it reads the stack's `.aiprime/serving/services.yaml`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import numpy as np
import yaml

from aiprime.rag.evaluate import sample_queries
from aiprime.settings import Settings

SPLITS = Path("data/splits")


def route(client: httpx.Client, gate_url: str, question: str) -> tuple[str, float]:
    """The expert the gate picks for `question`, and the gate's probability for it."""
    record = client.post(gate_url, json={"instances": [question]}).raise_for_status().json()["predictions"][0]
    return record["expert"], dict(zip(record["experts"], record["probabilities"], strict=True))[
        record["expert"]
    ]


def hit_ids(client: httpx.Client, retriever_url: str, body: dict) -> list[str]:
    """The doc ids the retriever answers for one request."""
    record = client.post(retriever_url, json=body).raise_for_status().json()["predictions"][0]
    return [hit["doc_id"] for hit in record["hits"]]


def measure(services: dict[str, str], queries, timeout_s: float = 120.0) -> list[dict]:
    """One row per question: the gate's probability, whether its route is the true domain, and whether the
    relevant sense was retrieved routed and plain."""
    rows = []
    with httpx.Client(timeout=timeout_s) as client:
        for q in queries.itertuples(index=False):
            expert, probability = route(client, services["gate"], q.question)
            routed = {
                "predictions": [{"expert": expert, "probability": probability, "instances": [q.question]}]
            }
            rows.append({
                "probability": probability,
                "right_domain": expert.replace("-", "_") == q.domain,
                "routed": q.relevant in hit_ids(client, services["retriever"], routed),
                "plain": q.relevant in hit_ids(client, services["retriever"], {"instances": [q.question]}),
            })  # fmt: skip
    return rows


def share_of(rows: list[dict]):
    """mean(key, selection=rows): the mean of a row key over a selection of rows (nan for none)."""

    def mean(key: str, selection: list[dict] = rows) -> float:
        return float(np.mean([r[key] for r in selection])) if selection else float("nan")

    return mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    services = yaml.safe_load((Settings().home / "serving" / "services.yaml").read_text())
    rows = measure(services, sample_queries(SPLITS, args.queries, args.seed, split=args.split))
    mean = share_of(rows)
    print(
        f"{len(rows)} {args.split} questions; the gate's route is the true domain for {mean('right_domain'):.3f}"
    )
    print(
        f"relevant in the retriever's hits: routed (domain preferred) {mean('routed'):.3f}, "
        f"plain {mean('plain'):.3f}, ratio {mean('routed') / mean('plain'):.3f}"
    )
    for low, high in ((0.0, 0.5), (0.5, 0.8), (0.8, 0.95), (0.95, 1.01)):
        band = [r for r in rows if low <= r["probability"] < high]
        print(
            f"  gate probability {low:.2f}-{min(high, 1):.2f}: {len(band)} questions, route right "
            f"{mean('right_domain', band):.3f}, routed {mean('routed', band):.3f}, plain {mean('plain', band):.3f}"
        )


if __name__ == "__main__":
    main()
