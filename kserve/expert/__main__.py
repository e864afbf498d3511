"""Serve one expert: `python kserve/expert --domain living --http_port 8080 [--model_dir DIR]`.

The model name defaults to `expert-<domain>` with `_` written `-` (`expert-people-society`), as the
InferenceServices and graphs name it. Without `--model_dir` the expert loads the `champion` of
`aiprime-expert-<domain>` from MLflow. Every KServe ModelServer argument applies.
"""

from __future__ import annotations

import argparse

from kserve import model_server
from model import ExpertModel  # kserve/expert/model.py: `python kserve/expert` puts this folder on sys.path

from aiprime.explain import METHODS
from aiprime.moe.experts import domains
from aiprime.serving import base_server
from aiprime.serving.names import service_name
from aiprime.serving.served_models import ModelSource


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments, AI Prime's common ones, and the expert's."""
    parser = argparse.ArgumentParser(
        prog="python kserve/expert",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.add_argument("--domain", required=True, choices=domains(), help="The domain this expert serves.")
    parser.add_argument(
        "--explainer",
        choices=METHODS,
        default="auto",
        help="Default explanation method (auto: integrated gradients, SHAP if they do not add up).",
    )
    parser.set_defaults(**base_server.DEFAULTS, model_name=None)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the expert and serve it until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    args.model_name = args.model_name or service_name("expert", args.domain)
    base_server.prepare(args)
    model = ExpertModel(
        args.model_name, args.domain, ModelSource.from_args(args), explainer=args.explainer,
        max_in_flight=args.max_in_flight,
    )  # fmt: skip
    model.load()
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
