"""The console's tests' servers: a gateway serving the console, and a stand-in for what the gateway forwards to.

The stand-in for the RAG graph and the gate's explainer answers `/ask` and `/explain` in the documented shapes (kserve/graphs/README.md: the generator's record,
passing the retriever's keys on; `aiprime.explain.attribution.Explanation.to_dict`), with a route decided
by a keyword, so that an edit can move it. It is not a model: it only lets the page be exercised end to end.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _helpers.gateways import Gateway
from _helpers.servers import AsgiServer, JsonHandler
from aiprime.gateway import GatewaySettings, create_app
from aiprime.gateway.server import server_options
from aiprime.settings import Settings

PASSWORD = "console-test-password-1"  # of the users the console tests create
KEYWORDS = {"python", "function", "module"}  # a question naming one is routed to `computing`


def route(text: str) -> tuple[str, float]:
    """The stand-in gate's choice for `text` and its probability."""
    return ("computing", 0.81) if KEYWORDS & set(text.lower().split()) else ("living", 0.64)


def ask_answer(question: str) -> dict[str, Any]:
    """The RAG graph's answer to `question`: the generator's record over two retrieved passages."""
    expert, probability = route(question)
    hits = [
        {"doc_id": f"wn:{expert}-1", "title": f"{expert} sense", "content": f"A passage about {expert}.",
         "source": "wordnet", "domain": expert, "score": 0.0328},
        {"doc_id": f"wn:{expert}-2", "title": "another sense", "content": "A weaker passage.",
         "source": "wordnet", "domain": expert, "score": 0.0161},
    ]  # fmt: skip
    return {
        "predictions": [
            {"question": question, "expert": expert, "domain": expert, "probability": probability,
             "scores": {f"noun.{expert}": 0.9}, "hits": hits, "answer": f"It is about {expert} [wn:{expert}-1].",
             "mode": "extractive", "grounded": True, "support": 0.9, "set_aside": None,
             "citations": [f"wn:{expert}-1"], "unknown_citations": [], "abstained": False,
             "sources": [f"wn:{expert}-1"]}
        ]
    }  # fmt: skip


def explanation(text: str) -> dict[str, Any]:
    """An explanation of the stand-in gate's choice for `text`: keywords push towards `computing`."""
    expert, probability = route(text)
    words = [
        {"word": w, "attribution": (0.3 if w.lower() in KEYWORDS else -0.02 * (i % 3)) + 0.01}
        for i, w in enumerate(text.split())
    ]
    return {
        "text": text, "target": expert, "target_index": 0, "method": "integrated_gradients",
        "tokens": [w["word"] for w in words], "attributions": [w["attribution"] for w in words], "words": words,
        "prediction": probability, "baseline_prediction": 0.1, "baseline": "[PAD] tokens",
        "delta": 0.0, "tolerance": 0.01, "complete": True, "evaluations": 32,
    }  # fmt: skip


def _handler() -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            text = str(self.read_json()["instances"][0])
            answer = {"explanations": [explanation(text)]} if self.path == "/explain" else ask_answer(text)
            self.send_json(200, answer)

    return Handler


@contextmanager
def console_upstream() -> Iterator[str]:
    """Serve the stand-in on 127.0.0.1; its base URL (`/ask`, `/explain`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Console(Gateway):
    """A gateway serving the console, with the settings it reads."""

    settings: Settings
    gateway: GatewaySettings

    def login(self, user: str) -> str:
        """An access token from the password grant, as the page's sign-in gets it."""
        with self.client() as client:
            answer = client.post(
                "/oauth/token", data={"grant_type": "password", "username": user, "password": PASSWORD}
            )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def start_console(
    app_db_url: str, home: Path, upstream: str, mlflow: str, *, explain_url: str | None = None
) -> Console:
    """A console on `app_db_url` whose ask goes to `upstream` + `/ask` (the stand-in) or, with `explain_url`,
    to `upstream` itself (a real router) and explain to `explain_url` (a real gate's `:explain`); it reads
    `mlflow`."""
    settings = Settings(home=home, mlflow_tracking_uri=mlflow, _env_file=None)
    ask_url, explain_url = (
        (f"{upstream}/ask", f"{upstream}/explain") if explain_url is None else (upstream, explain_url)
    )
    gateway = GatewaySettings(_env_file=None, ask_url=ask_url, explain_url=explain_url)
    app = create_app(settings, gateway, db_url=app_db_url)
    return Console(app, AsgiServer(app, **server_options(gateway)).__enter__(), settings, gateway)
