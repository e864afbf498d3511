"""What every request passes through: request id, server span, body limit, RED metrics, JSON log, audit.

A pure ASGI middleware (no per-request task or copy beyond the body, which it reads once, bounded by
`max_body_bytes`, and replays). Route handlers fill in the request's `RequestContext` (who, which
permission, the decision); the middleware turns it into the access log line and the audit entry.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiprime.errors import AIPrimeError, PayloadTooLarge, ServiceUnavailable
from aiprime.gateway.responses import describe, error_body
from aiprime.gateway.telemetry import LOGGER, GatewayMetrics, extract_context, trace_id_of
from aiprime.security.audit import AuditEntry

_access = logging.getLogger(f"{LOGGER}.access")
_errors = logging.getLogger(f"{LOGGER}.errors")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
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
    actor: str = "anonymous"
    resource: str | None = None  # the permission checked
    decision: str | None = None  # allow | deny, once authorization ran
    error: str | None = None  # the error code answered, if any


@dataclass
class GatewayHooks:
    """What the middleware needs from the app: filled in when the app starts (see `app.create_app`)."""

    metrics: GatewayMetrics
    tracer: trace.Tracer
    max_body_bytes: int
    paths: Callable[[], list[str]]  # the app's route templates (its OpenAPI paths), read on first use
    submit_audit: Callable[[AuditEntry], None] | None = None
    audit_accepting: Callable[[], bool] = lambda: True


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
        ctx = RequestContext(_request_id(scope), scope["client"][0] if scope.get("client") else "unknown")
        scope.setdefault("state", {})["ctx"] = ctx
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        start = time.perf_counter()
        self.hooks.metrics.in_flight.inc()
        try:
            with self.hooks.tracer.start_as_current_span(
                f"{method} {scope['path']}",
                context=extract_context(scope["headers"]),
                kind=trace.SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "url.path": scope["path"],
                    "aiprime.request_id": ctx.request_id,
                },
            ) as span:
                ctx.trace_id = trace_id_of(span)
                status = await self._serve(scope, receive, send, ctx)
                route = self._route(scope)
                _finish_span(span, method, route, status)
        finally:
            self.hooks.metrics.in_flight.dec()
        self._record(scope, ctx, method, route, status, time.perf_counter() - start)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> int:
        try:
            body = await self._read_body(scope, receive)
            if not self.hooks.audit_accepting() and scope["path"] not in UNAUDITED:
                raise ServiceUnavailable(
                    "The gateway cannot write its audit log fast enough (PostgreSQL slow or "
                    "down), so it refuses requests for now; retry shortly."
                )
        except AIPrimeError as e:
            return await send_error(send, ctx, e)
        return await self._call_app(scope, body, receive, send, ctx)

    async def _call_app(
        self, scope: Scope, body: bytes | None, receive: Receive, send: Send, ctx: RequestContext
    ) -> int:
        """Run the app on the buffered body, adding the id headers; return the status it answered."""
        status = 500
        started = False

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            message, body = {"type": "http.request", "body": body, "more_body": False}, None
            return message

        async def send_with_ids(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message = {**message, "headers": [*message.get("headers", []), *_id_headers(ctx)]}
            await send(message)

        try:
            await self.app(scope, replay, send_with_ids)
        except Exception as e:  # noqa: BLE001 - the last line of defence: log it, answer 500 in our shape
            _errors.exception(
                "unhandled error", extra={"request_id": ctx.request_id, "trace_id": ctx.trace_id}
            )
            if started:
                return status  # the answer is half sent; the server closes the connection
            return await send_error(
                send,
                ctx,
                AIPrimeError(
                    f"The gateway failed on this request ({type(e).__name__}); "
                    f"report request id {ctx.request_id}."
                ),
            )
        return status

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

    def _record(
        self, scope: Scope, ctx: RequestContext, method: str, route: str, status: int, elapsed_s: float
    ) -> None:
        metrics = self.hooks.metrics
        metrics.requests.labels(route, method, str(status)).inc()
        if status >= 500:
            metrics.errors.labels(route, method, str(status)).inc()
        metrics.duration.labels(route, method).observe(elapsed_s)
        decision = ctx.decision or ("allow" if status < 400 else "deny")
        if _access.isEnabledFor(logging.INFO):
            _access.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "request_id": ctx.request_id,
                    "trace_id": ctx.trace_id,
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(elapsed_s * 1000, 3),
                    "principal": ctx.actor,
                    "decision": decision,
                    "error": ctx.error,
                    "client": ctx.client,
                },
            )
        if self.hooks.submit_audit is not None and scope["path"] not in UNAUDITED:
            detail: dict[str, Any] = {"client": ctx.client, "duration_us": int(elapsed_s * 1e6)}
            if ctx.error:
                detail["error"] = ctx.error
            if route == "unmatched":
                detail["path"] = scope["path"][:200]
            self.hooks.submit_audit(
                AuditEntry(
                    ctx.actor,
                    f"{method} {route}",
                    ctx.resource or route,
                    decision,
                    status,
                    ctx.request_id,
                    ctx.trace_id,
                    detail,
                )
            )


async def send_error(send: Send, ctx: RequestContext, e: AIPrimeError) -> int:
    """Answer `e` in the gateway's JSON error shape; return the status sent."""
    status, code, headers = describe(e)
    ctx.error = code
    body = error_body(code, str(e), ctx.request_id)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *_id_headers(ctx),
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
