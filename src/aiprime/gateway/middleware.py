"""What every request passes through: request id, server span, limits and input checks, RED metrics, JSON
log, audit.

A pure ASGI middleware (no per-request task or copy beyond the body, which it reads once, bounded by
`max_body_bytes`, and replays). Before the app runs it checks the headers' size, NUL characters and JSON
nesting (`aiprime.gateway.requestchecks`), rate-limits requests for unknown paths per address, and refuses
requests while the audit backlog is full (anonymous ones already when their share is). Route handlers fill
in the request's `RequestContext` (who, which permission, the decision); the middleware turns it into the
access log line and the audit entry, which is spooled durably before the last byte of the answer is sent.
Anonymous requests refused for their rate or their backlog share are counted, not audited one by one.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiprime.errors import AIPrimeError, DatabaseUnavailable, PayloadTooLarge, ServiceUnavailable
from aiprime.gateway.requestchecks import Network, check_body, check_headers, check_text, client_address
from aiprime.gateway.responses import describe, error_body
from aiprime.gateway.telemetry import LOGGER, GatewayMetrics, continued_context, trace_id_of
from aiprime.security.audit import AuditEntry

_access = logging.getLogger(f"{LOGGER}.access")
_errors = logging.getLogger(f"{LOGGER}.errors")
AGENT_RUN_HEADER = b"x-agent-run"  # an agent's tool call names its run; the audit row records it
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
ANONYMOUS = "anonymous"
OAUTH_PATHS = frozenset({"/oauth/token"})  # errors answered as RFC 6749 5.2 documents
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Paths neither audited nor refused for audit backlog: probes, scrapes, and the API description.
UNAUDITED = frozenset(
    {"/healthz", "/livez", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}
)


@dataclass
class RequestContext:
    """One request's facts, shared by the middleware and the handlers (`request.state.ctx`)."""

    request_id: str
    client: str
    trace_id: str | None = None
    actor: str = ANONYMOUS
    resource: str | None = None  # the permission checked
    decision: str | None = None  # allow | deny, once authorization ran
    error: str | None = None  # the error code answered, if any
    unaudited: bool = False  # refused for the anonymous share of the audit backlog: counted, not audited
    served: dict[str, Any] = field(default_factory=dict)  # what served the upstream answer: audited


@dataclass
class GatewayHooks:
    """What the middleware needs from the app: filled in when the app starts (see `app.create_app`)."""

    metrics: GatewayMetrics
    tracer: trace.Tracer
    max_body_bytes: int
    paths: Callable[[], list[str]]  # the app's route templates (its OpenAPI paths), read on first use
    max_header_bytes: int = 16384
    max_json_depth: int = 32
    trusted_proxies: tuple[Network, ...] = field(default_factory=tuple)
    submit_audit: Callable[[AuditEntry], Awaitable[None]] | None = None  # returns once it is durable
    audit_accepting: Callable[[bool], bool] = lambda anonymous: True
    limit_address: Callable[[str], None] = lambda client: None  # RateLimited when the address sent too many


class GatewayMiddleware:
    """The ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, hooks: GatewayHooks) -> None:
        """Args: hooks is shared with the app and completed by its lifespan."""
        self.app, self.hooks = app, hooks
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext(_request_id(scope), client_address(scope, self.hooks.trusted_proxies))
        scope.setdefault("state", {})["ctx"] = ctx
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        start = time.perf_counter()
        answer = _AuditedSend(self, scope, ctx, method, send)
        self.hooks.metrics.in_flight.inc()
        try:
            with (
                continued_context(scope["headers"]),
                self.hooks.tracer.start_as_current_span(
                    f"{method} {scope['path']}",
                    kind=trace.SpanKind.SERVER,
                    attributes={
                        "http.request.method": method,
                        "url.path": scope["path"],
                        "aiprime.request_id": ctx.request_id,
                    },
                ) as span,
            ):
                ctx.trace_id = trace_id_of(span)
                status = await self._serve(scope, receive, answer, ctx)
                route = self._route(scope)
                _finish_span(span, method, route, status)
            if not answer.audited:  # the answer broke off before its last byte
                await answer.audit()
        finally:
            self.hooks.metrics.in_flight.dec()
        self._record(ctx, method, route, status, time.perf_counter() - start)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> int:
        try:
            self._admit(scope, ctx)
            body = await self._read_body(scope, receive)
            self._check(ctx, lambda: check_body(_content_type(scope), body, self.hooks.max_json_depth))
        except AIPrimeError as e:
            return await send_error(send, ctx, e, oauth=scope["path"] in OAUTH_PATHS)
        return await self._call_app(scope, body, receive, send, ctx)

    def _admit(self, scope: Scope, ctx: RequestContext) -> None:
        """Refuse, before reading the body: oversized headers, NUL in the URL, floods of unknown paths,
        and requests while the audit backlog (or, for requests without a credential, their share) is full."""
        self._check(ctx, lambda: (check_headers(scope, self.hooks.max_header_bytes), check_text(scope)))
        if scope["path"] in UNAUDITED:
            return
        if self._route(scope) == "unmatched":
            self.hooks.limit_address(ctx.client)
        anonymous = not _has_credential(scope)
        if not self.hooks.audit_accepting(anonymous):
            ctx.unaudited = anonymous
            raise ServiceUnavailable(
                "The gateway cannot write its audit log fast enough (PostgreSQL slow or down), so it "
                "refuses requests for now; retry shortly."
                + (" Requests with a credential are refused later than anonymous ones." if anonymous else "")
            )

    def _check(self, ctx: RequestContext, check: Callable[[], object]) -> None:
        """Run an input check; a refused request spends its address's rate (RateLimited once it is spent)."""
        try:
            check()
        except AIPrimeError:
            self.hooks.limit_address(ctx.client)
            raise

    async def _call_app(
        self, scope: Scope, body: bytes | None, receive: Receive, send: _AuditedSend, ctx: RequestContext
    ) -> int:
        """Run the app on the buffered body; return the status it answered."""

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            message, body = {"type": "http.request", "body": body, "more_body": False}, None
            return message

        try:
            await self.app(scope, replay, send)
        except Exception as e:  # noqa: BLE001 - the last line of defence: log it, answer in our shape
            if send.started:
                _errors.exception("error after the answer began", extra=_ids(ctx))
                return send.status  # the answer is half sent; the server closes the connection
            return await send_error(send, ctx, _as_error(e, ctx))
        return send.status

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.hooks.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"The request body has {int(declared)} bytes; the limit is {limit} "
                "(AIPRIME_GATEWAY_MAX_BODY_BYTES). Send fewer instances per request."
            )
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk, more = message.get("body", b""), message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(
                    f"The request body exceeds {limit} bytes (AIPRIME_GATEWAY_MAX_BODY_BYTES); "
                    "send fewer instances per request."
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _route(self, scope: Scope) -> str:
        """The route template (bounded label cardinality), resolved even for requests refused early."""
        route = scope.get("route")
        if route is not None:
            return route.path
        if self._templates is None:
            self._templates = [
                (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(p)) + "$"), p)
                for p in self.hooks.paths()
            ]
        return next((p for pattern, p in self._templates if pattern.match(scope["path"])), "unmatched")

    def _record(self, ctx: RequestContext, method: str, route: str, status: int, elapsed_s: float) -> None:
        metrics = self.hooks.metrics
        metrics.requests.labels(route, method, str(status)).inc()
        if status >= 500:
            metrics.errors.labels(route, method, str(status)).inc()
        metrics.duration.labels(route, method).observe(elapsed_s)
        if _access.isEnabledFor(logging.INFO):
            _access.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    **_ids(ctx),
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(elapsed_s * 1000, 3),
                    "principal": ctx.actor,
                    "decision": _decision(ctx, status),
                    "error": ctx.error,
                    "client": ctx.client,
                },
            )

    def audit_entry(
        self, scope: Scope, ctx: RequestContext, method: str, status: int, elapsed_s: float
    ) -> AuditEntry | None:
        """The request's audit entry; None for probes and for anonymous requests refused for their rate
        or their share of the audit backlog (counted in the metrics instead)."""
        if scope["path"] in UNAUDITED or ctx.unaudited:
            return None
        if ctx.actor == ANONYMOUS and status == 429:
            return None
        route = self._route(scope)
        detail: dict[str, Any] = {"client": ctx.client, "duration_us": int(elapsed_s * 1e6)}
        if ctx.error:
            detail["error"] = ctx.error
        if route == "unmatched":
            detail["path"] = scope["path"][:200]
        if (agent_run := _agent_run(scope)) is not None:
            detail["agent_run"] = agent_run
        detail.update(ctx.served)  # the model versions and retrieved chunks, for `aiprime lineage`
        return AuditEntry(
            ctx.actor,
            f"{method} {route}",
            ctx.resource or route,
            _decision(ctx, status),
            status,
            ctx.request_id,
            ctx.trace_id,
            detail,
        )


class _AuditedSend:
    """The `send` the app answers through: it adds the id headers and, before the answer's last byte,
    waits until the request's audit entry is durable."""

    def __init__(
        self, middleware: GatewayMiddleware, scope: Scope, ctx: RequestContext, method: str, send: Send
    ) -> None:
        self.middleware, self.scope, self.ctx, self.method, self.send = middleware, scope, ctx, method, send
        self.start = time.perf_counter()
        self.status, self.started, self.audited = 500, False, False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
            message = {**message, "headers": [*message.get("headers", []), *_id_headers(self.ctx)]}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            await self.audit()
        await self.send(message)

    async def audit(self) -> None:
        """Submit the request's audit entry (once) and wait until it is durable."""
        self.audited = True
        submit = self.middleware.hooks.submit_audit
        elapsed = time.perf_counter() - self.start
        entry = self.middleware.audit_entry(self.scope, self.ctx, self.method, self.status, elapsed)
        if submit is not None and entry is not None:
            await submit(entry)


async def send_error(send: Send, ctx: RequestContext, e: AIPrimeError, oauth: bool = False) -> int:
    """Answer `e` through the middleware's `send` in the gateway's JSON error shape, or for an OAuth
    endpoint's 400 and 429 in RFC 6749's (as its schema documents); return the status sent."""
    status, code, headers = describe(e)
    if oauth and status in (400, 429):
        code = {"invalid_input": "invalid_request"}.get(code, code)
        document = {"error": code, "error_description": str(e), "request_id": ctx.request_id}
        body = json.dumps(document).encode()
    else:
        body = error_body(code, str(e), ctx.request_id)
    ctx.error = code
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
    return status


def _request_id(scope: Scope) -> str:
    """The caller's `X-Request-Id` if it is a sane token, else a fresh one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


def _agent_run(scope: Scope) -> str | None:
    """The agent run a tool call belongs to (`X-Agent-Run`, aiprime.agents), if it is a sane token."""
    for name, value in scope["headers"]:
        if name == AGENT_RUN_HEADER:
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.fullmatch(candidate) else None
    return None


def _as_error(e: Exception, ctx: RequestContext) -> AIPrimeError:
    """The answer for an exception no handler took: 503 when PostgreSQL is unreachable, else 500."""
    if isinstance(e, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError) or (
        isinstance(e, sa.exc.DBAPIError) and e.connection_invalidated
    ):
        _errors.warning("PostgreSQL unreachable: %s", type(e).__name__, extra=_ids(ctx))
        return DatabaseUnavailable(
            "The gateway cannot reach PostgreSQL right now; retry after the Retry-After seconds. "
            "Operators: check `aiprime services status` or AIPRIME_DATABASE_URL."
        )
    _errors.exception("unhandled error", extra=_ids(ctx))
    return AIPrimeError(
        f"The gateway failed on this request ({type(e).__name__}); report request id {ctx.request_id}."
    )


def _ids(ctx: RequestContext) -> dict[str, str | None]:
    return {"request_id": ctx.request_id, "trace_id": ctx.trace_id}


def _decision(ctx: RequestContext, status: int) -> str:
    return ctx.decision or ("allow" if status < 400 else "deny")


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").lower()
    return ""


def _has_credential(scope: Scope) -> bool:
    """Whether the request may be authenticated: an Authorization header, or a token request's form."""
    return scope["path"] == "/oauth/token" or any(name == b"authorization" for name, _ in scope["headers"])


def _id_headers(ctx: RequestContext) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-request-id", ctx.request_id.encode())]
    if ctx.trace_id:
        headers.append((b"x-trace-id", ctx.trace_id.encode()))
    return headers


def _finish_span(span: trace.Span, method: str, route: str, status: int) -> None:
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)
