"""Serve the top-2 combiner: `python kserve/combiner --model_name combiner --http_port 8080`."""

from __future__ import annotations

import argparse

from kserve import model_server
from model import CombinerModel  # kserve/combiner/model.py: `python kserve/combiner` puts it on sys.path

from aiprime.serving import runtime


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments and AI Prime's common ones (the model source ones go unused)."""
    parser = argparse.ArgumentParser(
        prog="python kserve/combiner",
        description=__doc__,
        parents=[model_server.parser, runtime.common_arguments()],
    )
    parser.set_defaults(**runtime.DEFAULTS, model_name="combiner")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Serve the combiner until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    runtime.prepare(args, uses_torch=False)
    model = CombinerModel(args.model_name, max_in_flight=args.max_in_flight)
    model.load()
    runtime.serve([model], args)


if __name__ == "__main__":
    main()
