"""A real gateway for the agents' tests, in front of a small upstream that answers like the platform's services.

The upstream answers each service's path with the shape the real one sends: `/predict` a gate record,
`/search` the retriever's records with hits of every source, `/ask` an answer, `/train` and `/deploy` an
acknowledgement; `/hang` answers only when released (or after 30 s). tests/agents/conftest.py serves them
as the fixtures `platform` (the upstream) and `gateway` (in front of it).
"""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _helpers.gateways import Gateway, start_gateway
from _helpers.servers import JsonHandler
from aiprime.agents import api as agents_api
from aiprime.db.engine import connect
from aiprime.gateway import GatewaySettings
from aiprime.security.admin import Actor, Admin

HITS = [
    {"doc_id": "wn:02084071-n", "title": "dog", "content": "a member of the genus Canis", "source": "wordnet",
     "domain": "biology", "score": 0.9},
    {"doc_id": "foldoc:TCP", "title": "TCP", "content": "Transmission Control Protocol", "source": "foldoc",
     "domain": "computing", "score": 0.8},
]  # fmt: skip
ANSWERS = {
    "/predict": {"predictions": [{"domain": "biology", "lexname": "noun.animal"}]},
    "/explain": {"explanations": [{"word": "dog", "weight": 0.7}]},
    "/ask": {"predictions": [{"answer": "A dog is a member of the genus Canis.", "hits": HITS[:1]}]},
    "/search": {"predictions": [{"question": "dog", "hits": HITS}]},
    "/train": {"run_id": "kfp-run-1", "status": "started"},
    "/deploy": {"status": "deployed"},
}


@dataclass
class PlatformUpstream:
    """The upstream's URL, the requests it saw (path, headers), and the event that releases `/hang`."""

    url: str = ""
    seen: list[dict] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(upstream: PlatformUpstream) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            upstream.seen.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            if self.path == "/hang":
                upstream.release.wait(30)
            self.send_json(200, ANSWERS.get(self.path, {"predictions": ["ok"]}))

    return Handler


@contextmanager
def platform_upstream() -> Iterator[PlatformUpstream]:
    """Serve the upstream on 127.0.0.1 until the block ends."""
    upstream = PlatformUpstream()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.release.set()
        server.shutdown()
        server.server_close()


def agent_gateway(db_url: str, home: Path, upstream_url: str, **paths: str) -> Gateway:
    """A gateway with the agents' routes whose upstreams are the platform upstream's paths (`ask="/hang"`
    overrides one)."""
    services = ("predict", "explain", "ask", "search", "ingest", "train", "deploy")
    urls = {f"{name}_url": f"{upstream_url}{paths.get(name, '/' + name)}" for name in services}
    return start_gateway(
        db_url, home, GatewaySettings(_env_file=None, **urls), extensions=[agents_api.install]
    )


def service_account(db_url: str, *roles: str) -> tuple[str, str]:
    """A new service account holding `roles`: (name, API key)."""
    admin, actor = Admin(connect(db_url)), Actor("tests")
    name = f"agent-{'-'.join(roles) or 'none'}-{uuid.uuid4().hex[:8]}"
    admin.add_principal(actor, name, "service")
    for role in roles:
        admin.grant(actor, name, role)
    return name, admin.create_key(actor, name).token
