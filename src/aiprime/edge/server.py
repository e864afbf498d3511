"""The edge server: one bundle behind KServe's v1 and v2 (Open Inference) protocols, without torch.

`python -m aiprime.edge.server --bundle DIR [--port 8080] [--name aiprime-edge] [--threads 1]`

It is Python's own threading HTTP server (no ASGI stack to import: start-up is the bundle's load), answering
- `GET /`, `/v2/health/live`, `/v2/health/ready`, `/v1/models`, `/v1/models/<name>`, `/v2/models/<name>`,
  `/v2/models/<name>/ready`: liveness, readiness and metadata as KServe's model server does;
- `POST /v1/models/<name>:predict` with `{"instances": ["a text", {"text": "another"}]}`: one record per
  instance, `{"expert", "probability" (the gate's for it), "label", "label_probability"}`;
- `POST /v2/models/<name>/infer` with a BYTES input tensor `text` of shape [N]: outputs `label` and `expert`
  (BYTES [N]), `probabilities` (FP32 [N, E], the gate's over `expert_names`).
Bad input is a 400 with `{"error": "..."}` naming the fix; an unknown model a 404; a body over MAX_BODY a 413.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiprime.edge.runtime import EdgeModel, EdgePrediction
from aiprime.errors import AIPrimeError, InvalidInput, NotFound, PayloadTooLarge

MAX_BODY = 1 << 20  # bytes of a request body
V1_SHAPE = '{"instances": ["a text", {"text": "another"}]}'
V2_SHAPE = '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a text"]}]}'


def v1_texts(payload: Any) -> list[str]:
    """The texts of a v1 request: each instance a string or `{"text": "..."}`."""
    instances = payload.get("instances") if isinstance(payload, Mapping) else None
    if not isinstance(instances, list) or not instances:
        raise InvalidInput(f"Expected a non-empty list under 'instances'. Send {V1_SHAPE}.")
    texts = [i.get("text") if isinstance(i, Mapping) else i for i in instances]
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise InvalidInput(f"Each instance must be a non-empty text or {{'text': '...'}}. Send {V1_SHAPE}.")
    return texts


def v2_texts(payload: Any) -> list[str]:
    """The texts of a v2 request: the BYTES tensor `text`, its shape [N] matching its data."""
    inputs = payload.get("inputs") if isinstance(payload, Mapping) else None
    tensor = next((t for t in inputs or [] if isinstance(t, Mapping) and t.get("name") == "text"), None)
    if tensor is None or tensor.get("datatype") != "BYTES":
        raise InvalidInput(f"Expected a BYTES input tensor named 'text'. Send {V2_SHAPE}.")
    data = tensor.get("data")
    if not isinstance(data, list) or tensor.get("shape") != [len(data)] or not data:
        raise InvalidInput(f"The 'text' tensor's shape {tensor.get('shape')} must be [N] for its N texts.")
    if not all(isinstance(t, str) and t.strip() for t in data):
        raise InvalidInput("Every element of the 'text' tensor must be a non-empty string.")
    return data


def v1_answer(model: EdgeModel, prediction: EdgePrediction) -> dict[str, Any]:
    """The v1 response: one record per text."""
    gate = {name: prediction.probabilities[:, e] for e, name in enumerate(model.expert_names)}
    return {
        "predictions": [
            {"expert": expert, "probability": round(float(gate[expert][i]), 6), "label": label,
             "label_probability": round(float(prediction.label_probability[i]), 6)}
            for i, (expert, label) in enumerate(zip(prediction.expert, prediction.label, strict=True))
        ]
    }  # fmt: skip


def v2_answer(name: str, request_id: str, prediction: EdgePrediction) -> dict[str, Any]:
    """The v2 response: `label`, `expert` (BYTES [N]) and `probabilities` (FP32 [N, E])."""
    n, e = prediction.probabilities.shape
    outputs = [
        {"name": "label", "shape": [n], "datatype": "BYTES", "data": prediction.label},
        {"name": "expert", "shape": [n], "datatype": "BYTES", "data": prediction.expert},
        {"name": "probabilities", "shape": [n, e], "datatype": "FP32",
         "data": [round(float(p), 6) for p in prediction.probabilities.ravel()]},
    ]  # fmt: skip
    return {"model_name": name, "id": request_id, "outputs": outputs}


class EdgeHandler(BaseHTTPRequestHandler):
    """Routes of one served bundle; `server.model` and `server.name` are set by `make_server`."""

    protocol_version = "HTTP/1.1"  # keep-alive: a device's client reuses its connection
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for the client's
    # delayed ACK (bench/edge.py: about 60 ms per request instead of the 6.5 ms of CPU it takes).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.answer(self.get)

    def do_POST(self) -> None:
        self.answer(self.post)

    def get(self) -> dict[str, Any]:
        name, path = self.server.name, self.path.split("?")[0].rstrip("/")
        pages = {
            "": {"status": "alive"},
            "/v2/health/live": {"live": True},
            "/v2/health/ready": {"ready": True},
            "/v1/models": {"models": [name]},
            f"/v1/models/{name}": {"name": name, "ready": True},
            f"/v2/models/{name}/ready": {"name": name, "ready": True},
            f"/v2/models/{name}": self.metadata(),
        }
        if path not in pages:
            raise NotFound(f"No route GET {path}; this server serves the model {name!r}.")
        return pages[path]

    def post(self) -> dict[str, Any]:
        name, path = self.server.name, self.path.split("?")[0]
        payload = self.read_json()
        if path == f"/v1/models/{name}:predict":
            return v1_answer(self.server.model, self.server.model.predict(v1_texts(payload)))
        if path == f"/v2/models/{name}/infer":
            prediction = self.server.model.predict(v2_texts(payload))
            return v2_answer(name, str(payload.get("id", "")), prediction)
        raise NotFound(f"No route POST {path}; use /v1/models/{name}:predict or /v2/models/{name}/infer.")

    def metadata(self) -> dict[str, Any]:
        """v2 model metadata: the bundle's heads' versions, inputs and outputs."""
        manifest = self.server.model.manifest
        return {
            "name": self.server.name, "platform": "onnxruntime",
            "versions": [f"{e['registered']}@{e['version']}" if e["registered"] else e["file"]
                         for e in [manifest["gate"], *manifest["experts"].values()]],
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                        {"name": "expert", "datatype": "BYTES", "shape": [-1]},
                        {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(self.server.model.expert_names)]}],
        }  # fmt: skip

    def read_json(self) -> Any:
        """The request body as JSON (at most MAX_BODY bytes)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise PayloadTooLarge(f"The body has {length} bytes; send at most {MAX_BODY} per request.")
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError as e:
            raise InvalidInput(f"The body is not JSON: {e}. Send {V1_SHAPE} or {V2_SHAPE}.") from e

    def answer(self, route) -> None:
        """Run `route` and send its JSON, or `{"error": ...}` with the error's status."""
        try:
            status, body = HTTPStatus.OK, route()
        except AIPrimeError as e:
            status, body = HTTPStatus(e.http_status), {"error": str(e)}
        data = json.dumps(body).encode()
        if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
            self.close_connection = True  # the unread body would be taken for the next request
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr (a device has no one reading it)."""


def make_server(bundle: Path, host: str, port: int, name: str, threads: int = 1) -> ThreadingHTTPServer:
    """A server bound to (host, port) answering for the bundle's model under `name` (not yet serving)."""
    server = ThreadingHTTPServer((host, port), EdgeHandler)
    server.daemon_threads = True
    server.model, server.name = EdgeModel(bundle, threads), name
    return server


def parser() -> argparse.ArgumentParser:
    """The server's arguments."""
    parser = argparse.ArgumentParser(prog="python -m aiprime.edge.server", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="The folder `aiprime edge build` wrote.")
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (0.0.0.0 in a container).")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--name", default="aiprime-edge", help="The model name in the v1/v2 routes.")
    parser.add_argument("--threads", type=int, default=1, help="Cores per forward pass.")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the bundle and serve it until interrupted."""
    args = parser().parse_args(argv)
    try:
        server = make_server(args.bundle, args.host, args.port, args.name, args.threads)
    except (AIPrimeError, OSError) as e:
        raise SystemExit(f"error: {e}") from e
    print(f"serving {args.name} from {args.bundle} on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
