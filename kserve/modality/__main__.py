"""Serve the modality step: `python kserve/modality --model_name modality --http_port 8080`.

`--speech_threads` sets Whisper's CPU threads (default 1: the local stack shares the machine with the other
servers). Every KServe ModelServer argument applies; the model source arguments go unused (silero-vad and
Whisper tiny.en ship in their packages).
"""

from __future__ import annotations

import argparse

from kserve import model_server
from model import ModalityModel  # kserve/modality/model.py: `python kserve/modality` puts it on sys.path

from aiprime.multimodal.speech import SpeechConfig
from aiprime.serving import base_server, media_server
from aiprime.serving.media_models import MODALITY


def parser() -> argparse.ArgumentParser:
    """KServe's model server arguments, AI Prime's common ones, and Whisper's threads."""
    parser = argparse.ArgumentParser(
        prog="python kserve/modality",
        description=__doc__,
        parents=[model_server.parser, base_server.common_arguments()],
    )
    parser.add_argument("--speech_threads", type=int, default=1, help="Whisper's CPU threads.")
    parser.set_defaults(**base_server.DEFAULTS, model_name=MODALITY)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the speech models and serve the modality step until SIGINT/SIGTERM."""
    args = parser().parse_args(argv)
    base_server.prepare(args)
    model = ModalityModel(
        args.model_name, SpeechConfig(threads=args.speech_threads), max_in_flight=args.max_in_flight
    )
    model.load()
    media_server.mount(model_server.app, model)
    base_server.serve([model], args)


if __name__ == "__main__":
    main()
