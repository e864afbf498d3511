"""Does the gate's route help retrieval? Relevant-in-top-k through the running RAG stack, with and without it.

For a seeded sample of test questions (`aiprime.rag.evaluate.sample_queries`), asks the served gate which
expert it routes to (and with what probability, and whether a calibrated gate is confident), then asks the
served retriever twice: as the RAG graph does (an expert's record carrying the gate's `confident` on, so the
route's domain is preferred unless the gate was unsure) and as a plain question (no domain). Prints the
share of questions whose relevant sense is among the k hits each way, how often the gate's route is the
question's true domain, and the same split by the gate's probability and by its confidence. The retriever
re-ranks as it serves (the registered champion, when there is one).

Run: `aiprime serve --rag --detach`, then `python bench/rag_routing.py [--queries 150] [--seed 11]
[--split test] [--services FILE] [--gate gate]` from the repository root (by default it reads the stack's
`.aiprime/serving/services.yaml`; `--gate` names the gate's service in it).
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


def route(client: httpx.Client, gate_url: str, question: str) -> dict:
    """The expert record the RAG graph hands the retriever for `question`: the gate's choice, its probability,
    and its `confident` when the gate is calibrated."""
    record = client.post(gate_url, json={"instances": [question]}).raise_for_status().json()["predictions"][0]
    sure = {"confident": record["confident"]} if "confident" in record else {}
    return {
        "expert": record["expert"],
        "probability": record["probabilities"][0],
        "instances": [question],
        **sure,
    }


def hit_ids(client: httpx.Client, retriever_url: str, body: dict) -> list[str]:
    """The doc ids the retriever answers for one request."""
    record = client.post(retriever_url, json=body).raise_for_status().json()["predictions"][0]
    return [hit["doc_id"] for hit in record["hits"]]


def measure(services: dict[str, str], queries, gate: str = "gate", timeout_s: float = 120.0) -> list[dict]:
    """One row per question: the gate's probability and confidence, whether its route is the true domain, and
    whether the relevant sense was retrieved routed and plain."""
    rows = []
    with httpx.Client(timeout=timeout_s) as client:
        for q in queries.itertuples(index=False):
            record = route(client, services[gate], q.question)
            rows.append({
                "probability": record["probability"],
                "confident": record.get("confident", True),
                "right_domain": record["expert"].replace("-", "_") == q.domain,
                "routed": q.relevant in hit_ids(client, services["retriever"], {"predictions": [record]}),
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
    parser.add_argument("--splits", type=Path, default=SPLITS, help="The data/splits folder to sample from.")
    parser.add_argument("--services", type=Path, help="serviceName -> URL map; default the stack's.")
    parser.add_argument("--gate", default="gate", help="The gate's serviceName in that map.")
    args = parser.parse_args()
    services_file = args.services or Settings().home / "serving" / "services.yaml"
    services = yaml.safe_load(services_file.read_text())
    queries = sample_queries(args.splits, args.queries, args.seed, split=args.split)
    rows = measure(services, queries, args.gate)
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
    for sure in (True, False):
        band = [r for r in rows if r["confident"] is sure]
        print(
            f"  gate {'confident' if sure else 'unsure'}: {len(band)} questions, route right "
            f"{mean('right_domain', band):.3f}, routed {mean('routed', band):.3f}, plain {mean('plain', band):.3f}"
        )


if __name__ == "__main__":
    main()
