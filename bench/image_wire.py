"""Benchmark: bytes on the wire of an image request, v2 binary extension vs v1 JSON with base64, per file size.

Run: .venv/bin/python bench/image_wire.py [--images 200] [--stamps-dir DIR]
Data: the Tux Paint stamps (AIPRIME_STAMPS_DIR), read in place; the first --images files by name.

Each image is sent to the image route (`aiprime.serving.media_server`, parsing only: the model is a stub that
returns the file's length, so the figure is the protocol's) on 127.0.0.1 over a raw socket, and the bytes
written are counted: request line, headers and body. Reported: total wire bytes / total file bytes for each
format, and the largest per-file ratio. Target (issue 16): binary <= 1.05x; base64 JSON is about 1.33x.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn

from aiprime.multimodal.stamps import read_stamps
from aiprime.serving.binary import encode_media_request
from aiprime.serving.media_server import media_app
from aiprime.settings import Settings

PATH_V2 = "/v2/models/wire/infer"
PATH_V1 = "/v1/models/wire:predict"


def http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The exact bytes of a minimal HTTP/1.1 POST (what a client writes to the socket)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send(port: int, request: bytes) -> bytes:
    """Send one request on a fresh connection; the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    return answer


def requests_for(data: bytes, content_type: str) -> dict[str, bytes]:
    """The v2 binary and v1 base64 requests carrying `data`."""
    body, headers = encode_media_request("image", data, content_type)
    v1 = json.dumps({"instances": [{"image": {"b64": base64.b64encode(data).decode()}}]}).encode()
    return {
        "v2 binary": http_request(PATH_V2, body, headers),
        "v1 base64 JSON": http_request(PATH_V1, v1, {"Content-Type": "application/json"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--stamps-dir", type=Path, default=Settings().stamps_dir)
    args = parser.parse_args()
    stamps = read_stamps(args.stamps_dir)[: args.images]
    app = media_app("wire", lambda data: {"bytes": np.array([len(data)], np.float32)})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        report(
            sock.getsockname()[1], [s.image.read_bytes() for s in stamps], [s.image.suffix for s in stamps]
        )
    finally:
        server.should_exit = True
        thread.join(10)


def report(port: int, files: list[bytes], suffixes: list[str]) -> None:
    """Send every file in both formats; print the wire/file ratios."""
    wire: dict[str, list[int]] = {}
    for data, suffix in zip(files, suffixes, strict=True):
        content_type = "image/svg+xml" if suffix == ".svg" else "image/png"
        for kind, request in requests_for(data, content_type).items():
            send(port, request)
            wire.setdefault(kind, []).append(len(request))
    sizes = np.array([len(f) for f in files])
    print(f"{len(files)} files, {sizes.sum():,} bytes (median {int(np.median(sizes)):,})")
    print("| format | wire / file bytes (all) | per-file ratio at the median size | largest per-file ratio | "
          "median extra bytes |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    median_file = int(np.argsort(sizes)[len(sizes) // 2])
    for kind, counts in wire.items():
        ratios = np.array(counts) / sizes
        extra = int(np.median(np.array(counts) - sizes))
        total = sum(counts) / sizes.sum()
        print(f"| {kind} | {total:.4f} | {ratios[median_file]:.4f} | {ratios.max():.4f} | {extra:,} |")


if __name__ == "__main__":
    main()
