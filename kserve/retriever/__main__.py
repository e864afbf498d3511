"""Serve the retriever: `python kserve/retriever --http_port 8080 [--collection documents] [--k 4]`.

It searches `--collection` in the `aiprime` database of `--database_url` (default AIPRIME_DATABASE_URL, else
the embedded PostgreSQL of `aiprime services up`); the collection must have been filled by
`aiprime rag ingest`. `--reranker auto` re-ranks hybrid search's top 20 with the re-ranker's `--alias`
(`aiprime-reranker`) from MLflow (`--tracking_uri`) when one is registered. Every KServe ModelServer
argument applies.
"""

from __future__ import annotations

import argparse

from kserve import model_server
from model import RetrieverModel  # kserve/retriever/model.py: `python kserve/retriever` puts it on sys.path

from aiprime.rag.search import ANSWER_K
from aiprime.serving import base_server
from aiprime.settings import Settings


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments, AI Prime's common ones, and the retriever's."""
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="python kserve/retriever",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.add_argument(
        "--database_url",
        default=settings.database_url,
        help="PostgreSQL server whose `aiprime` database holds the collection; default AIPRIME_DATABASE_URL, "
        "unset: the embedded server.",
    )
    parser.add_argument("--collection", default=settings.rag_collection, help="The collection to search.")
    parser.add_argument(
        "--k", type=int, default=ANSWER_K, help="Hits per question (a request's parameters.k wins)."
    )
    parser.add_argument(
        "--reranker",
        default="auto",
        help="auto: re-rank with the re-ranker's --alias from MLflow when one is registered; none: serve the "
        "fused ranking; or a folder written by `aiprime rag train-reranker --out`.",
    )
    parser.add_argument(
        "--prefer_route_domain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Boost the domain of the expert the gate routed to (--no-prefer_route_domain: search all alike). "
        "A calibrated gate's unsure routes are never boosted; see kserve/graphs/README.md.",
    )
    parser.set_defaults(**base_server.DEFAULTS, model_name="retriever")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the retriever and serve it until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    base_server.prepare(args)
    model = RetrieverModel(
        args.model_name, server_url=args.database_url, collection=args.collection, k=args.k,
        reranker=args.reranker, tracking_uri=args.tracking_uri, alias=args.alias,
        max_in_flight=args.max_in_flight, prefer_route_domain=args.prefer_route_domain,
    )  # fmt: skip
    model.load()
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
