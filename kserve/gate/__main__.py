"""Serve the gate: `python kserve/gate --model_name gate --http_port 8080 [--model_dir DIR]`.

Without `--model_dir` the gate loads the `champion` of `aiprime-gate` from MLflow (`--tracking_uri`, default
AIPRIME_MLFLOW_TRACKING_URI). `--load_aware --services FILE` turns on load-aware routing over the experts
that FILE (the router's services mapping) names. Every KServe ModelServer argument applies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kserve import model_server

# kserve/gate/model.py: `python kserve/gate` puts this folder on sys.path
from model import DEFAULT_EXPLAINER, GateModel

from aiprime.explain import METHODS
from aiprime.serving import base_server
from aiprime.serving.graph import load_services
from aiprime.serving.load import LoadWatcher, endpoints
from aiprime.serving.request_log import request_log
from aiprime.serving.served_models import ModelSource
from aiprime.settings import Settings


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments, AI Prime's common ones, and the gate's."""
    parser = argparse.ArgumentParser(
        prog="python kserve/gate",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.add_argument(
        "--explainer",
        choices=METHODS,
        default=DEFAULT_EXPLAINER,
        help="Default explanation method (shap: the best measured, README 'Explanations, measured').",
    )
    parser.add_argument("--load_aware", action="store_true", help="Pass over unready or full experts.")
    parser.add_argument("--services", type=Path, help="serviceName -> URL map naming the experts to watch.")
    parser.add_argument(
        "--expert_capacity",
        type=int,
        default=0,
        help="In-flight requests at which an expert counts as full, if below its own --max_in_flight.",
    )
    parser.add_argument("--poll_interval_s", type=float, default=0.5, help="Seconds between load polls.")
    parser.add_argument(
        "--database_url",
        default=Settings().database_url,
        help="PostgreSQL server whose `aiprime` database gets every request (request_log, for drift "
        "detection); default AIPRIME_DATABASE_URL; unset: no request logging.",
    )
    parser.set_defaults(**base_server.DEFAULTS, model_name="gate")
    return parser


def watcher(args: argparse.Namespace) -> LoadWatcher | None:
    """The load watcher that the arguments ask for, started; None when load-aware routing is off."""
    if not args.load_aware:
        return None
    experts = endpoints(load_services(args.services))
    return LoadWatcher(experts, interval_s=args.poll_interval_s, capacity=args.expert_capacity).start()


def main(argv: list[str] | None = None) -> None:
    """Load the gate and serve it until SIGINT/SIGTERM."""
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.load_aware and args.services is None:
        arguments.error("--load_aware needs --services FILE, the serviceName -> URL map of the experts")
    base_server.prepare(args)
    model = GateModel(
        args.model_name, ModelSource.from_args(args), explainer=args.explainer, watcher=watcher(args),
        max_in_flight=args.max_in_flight, request_log=request_log(args.database_url, args.model_name),
    )  # fmt: skip
    model.load()
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
