"""Serve the top-2 combiner: `python kserve/combiner --model_name combiner --http_port 8080`."""

from __future__ import annotations

import argparse

from kserve import model_server
from model import CombinerModel  # kserve/combiner/model.py: `python kserve/combiner` puts it on sys.path

from aiprime.serving import base_server


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments and AI Prime's common ones (the model source ones go unused)."""
    parser = argparse.ArgumentParser(
        prog="python kserve/combiner",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.set_defaults(**base_server.DEFAULTS, model_name="combiner")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Serve the combiner until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    base_server.prepare(args, uses_torch=False)
    model = CombinerModel(args.model_name, max_in_flight=args.max_in_flight)
    model.load()
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
