"""The gateway: the one port users talk to, in front of the InferenceGraph router and the platform's services.

    from aiprime.gateway import serve_gateway
    serve_gateway(Settings(), "http://127.0.0.1:8080", host="127.0.0.1", port=8000)

Modules: `config` (AIPRIME_GATEWAY_* settings), `errors` (413/429/502/503/504 and the one JSON error shape),
`auth` (bearer tokens and API keys to principals, permission checks), `ratelimit` (per-principal token
buckets), `upstream` (forwarding with trace context), `auditwriter` (batched, hash-chained audit appends),
`auditspool` (the audit entries' durable spool), `telemetry` (RED metrics, spans, JSON logs), `middleware`
(what every request passes through), `requestchecks` (header size, NUL, JSON depth, the client's address
behind trusted proxies), `models` (request and answer schemas), `routes` (the HTTP API), `server` (how
uvicorn serves it: 431 past the header limit), `app` (`create_app`, `serve_gateway`).
"""

from aiprime.gateway.app import create_app, serve_gateway
from aiprime.gateway.config import GatewaySettings

__all__ = ["GatewaySettings", "create_app", "serve_gateway"]
