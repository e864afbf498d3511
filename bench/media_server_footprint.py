"""Benchmark: memory and CPU of the two media servers, which size their InferenceServices on a cluster.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/media_server_footprint.py [--requests 3] [--words 60]
Data: a clip of espeak-ng's voice reading --words words (about 0.3 s a word) and random 800x600 PNGs (never
in the image tower's cache, so each is embedded); the servers keep their caches under a temporary
AIPRIME_HOME.

Each server runs as on a cluster (`python kserve/<folder> --model_name <name>`, one thread for Whisper and
torch) on 127.0.0.1. Reported per server: resident memory once ready and the peak (VmHWM) after the requests,
and the CPU seconds and wall seconds of each request. `aiprime.deploy.manifests.MEDIA_SERVING` sizes the pods
from these figures.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _loopback import free_port, wait_for
from PIL import Image

from aiprime.serving.binary import encode_media_request

REPO = Path(__file__).resolve().parents[1]


def process_usage(pid: int) -> tuple[float, float, float]:
    """(resident MB, peak resident MB, CPU seconds) of a running process, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return int(status["VmRSS"].split()[0]) / 1000, int(status["VmHWM"].split()[0]) / 1000, cpu


def measure(folder: str, name: str, inputs: list[tuple[bytes, str]], args: list[str], home: Path) -> None:
    """Start one server, send each input once, print its memory and each request's CPU and wall time."""
    port = free_port()
    argv = [sys.executable, str(REPO / "kserve" / folder), "--model_name", name, "--http_port", str(port),
            "--host", "127.0.0.1", *args]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "AIPRIME_HOME": str(home)}
    with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/v2/models/{name}/ready", name, timeout_s=300)
            rss, _, cpu = process_usage(process.pid)
            print(f"{name}: ready, resident {rss:.0f} MB, {cpu:.2f} s CPU to load")
            for i, (data, content_type) in enumerate(inputs):
                body, headers = encode_media_request("file", data, content_type)
                started = time.monotonic()
                reply = httpx.post(
                    f"{base}/v1/models/{name}:predict", content=body, headers=headers, timeout=600
                )
                rss, peak, after = process_usage(process.pid)
                print(f"{name}: request {i} HTTP {reply.status_code}, {after - cpu:.2f} s CPU, "
                      f"{time.monotonic() - started:.2f} s wall, resident {rss:.0f} MB, peak {peak:.0f} MB")  # fmt: skip
                cpu = after
        finally:
            process.terminate()


def spoken_clip(words: int, folder: Path) -> bytes:
    text = " ".join(("the quick brown fox jumps over the lazy dog " * (words // 9 + 1)).split()[:words])
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(folder / "clip.wav"), text], check=True)
    return (folder / "clip.wav").read_bytes()


def random_png(rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3, help="requests per server")
    parser.add_argument("--words", type=int, default=60, help="words in the spoken clip (at most 30 s)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="media-footprint-") as tmp:
        clip = spoken_clip(args.words, Path(tmp))
        seconds = (len(clip) - 44) / (22050 * 2)  # espeak-ng writes 16-bit mono at 22,050 Hz
        print(f"clip: {seconds:.1f} s of speech")
        measure("modality", "modality", [(clip, "audio/wav")] * args.requests, ["--speech_threads", "1"],
                Path(tmp) / "home")  # fmt: skip
        images = [(random_png(rng), "image/png") for _ in range(args.requests)]
        measure("image_expert", "image-expert", images, [], Path(tmp) / "home")


if __name__ == "__main__":
    main()
