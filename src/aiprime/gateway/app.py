"""The gateway app (`create_app`) and the function that serves it (`serve_gateway`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aiprime.errors import AIPrimeError, InvalidInput
from aiprime.gateway import admin_routes, console_routes, feedback_routes, media_routes, routes
from aiprime.gateway.config import GatewaySettings, audit_heads, secret_store
from aiprime.gateway.middleware import GatewayHooks, GatewayMiddleware
from aiprime.gateway.requestchecks import nul_free_schema
from aiprime.gateway.responses import describe, error_body
from aiprime.gateway.runtime import Runtime, open_runtime
from aiprime.gateway.server import server_config
from aiprime.gateway.telemetry import TRACER_NAME, GatewayMetrics
from aiprime.gateway.upstream import Upstreams
from aiprime.observability import tracing
from aiprime.observability.logs import configure_json_logging
from aiprime.security.audit import AuditEntry
from aiprime.security.secrets import SecretStore
from aiprime.settings import Settings

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(
    settings: Settings,
    gateway: GatewaySettings | None = None,
    *,
    db_url: str | None = None,
    secrets: SecretStore | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    registry: CollectorRegistry | None = None,
    metrics_public: bool = False,
) -> FastAPI:
    """Build the gateway app; it connects to PostgreSQL and loads its signing key when it starts, not here.

    Args:
        settings: the platform's settings (AIPRIME_HOME holds the file secrets).
        gateway: the gateway's settings; None reads AIPRIME_GATEWAY_* variables.
        db_url: the `aiprime` database; None uses the platform's (starting the embedded server if needed).
        secrets: where the signing key lives; None picks the provider AIPRIME_GATEWAY_SECRETS names.
        tracer_provider: where spans go; None uses the global one, or a local SDK provider if none is set
            (spans then carry real trace ids for the logs and the audit log, and are not exported).
        registry: where metrics are registered; None creates one for this app.
        metrics_public: whether /metrics answers requests that came through a proxy (X-Forwarded-For).
    """
    gateway = gateway or GatewaySettings()
    gateway = gateway.model_copy(update={"audit_heads": audit_heads(settings, gateway)})
    registry = registry or CollectorRegistry()
    metrics = GatewayMetrics(registry)
    tracer = _provider(tracer_provider).get_tracer(TRACER_NAME)
    hooks = GatewayHooks(
        metrics,
        tracer,
        gateway.max_body_bytes,
        paths=lambda: list(app.openapi()["paths"]),
        max_header_bytes=gateway.max_header_bytes,
        max_json_depth=gateway.max_json_depth,
        trusted_proxies=gateway.proxy_networks(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from aiprime.db.urls import app_db_url  # started and migrated by `aiprime gateway` (or external)

        url = db_url or await run_in_threadpool(app_db_url, settings)
        store = secrets or secret_store(settings, gateway)
        spool = gateway.audit_spool_dir or settings.home / "audit-spool"
        rt = await run_in_threadpool(open_runtime, gateway, url, store, metrics, spool)
        limits = httpx.Limits(
            max_connections=gateway.upstream_max_connections,
            max_keepalive_connections=gateway.upstream_max_connections,
        )
        try:
            async with httpx.AsyncClient(limits=limits) as client:
                rt.upstreams = Upstreams(gateway, client, metrics, tracer)
                app.state.runtime = rt
                connect_hooks(hooks, rt)
                yield
        finally:
            hooks.submit_audit = None
            await run_in_threadpool(rt.audit.stop)
            await run_in_threadpool(rt.stop_publishing_heads)
            rt.engine.dispose()
            tracing.flush()

    app = FastAPI(
        title="AI Prime gateway",
        version="1",
        lifespan=lifespan,
        redoc_url=None,
        description="The one port of AI Prime: authentication, RBAC, audit, limits, and forwarding.",
        # The middleware opens each request's SERVER span (refused requests included); FastAPI's own would
        # be a second one once a tracer provider is configured.
        telemetry={"tracing": False},
    )
    app.state.registry, app.state.metrics_public = registry, metrics_public
    app.include_router(routes.router)
    app.include_router(admin_routes.router)
    app.include_router(feedback_routes.router)
    console_routes.install(app, settings)
    media_routes.install(app, settings)
    app.add_middleware(GatewayMiddleware, hooks=hooks)
    app.openapi = lambda: app.openapi_schema or nul_free_schema(FastAPI.openapi(app))  # what it refuses
    _install_error_handlers(app)
    return app


def connect_hooks(hooks: GatewayHooks, rt: Runtime) -> None:
    """Point the middleware at the running gateway's audit writer and per-address rate limit."""

    async def submit(entry: AuditEntry) -> None:
        await run_in_threadpool(rt.audit.submit, entry)

    hooks.submit_audit = submit
    hooks.audit_accepting = lambda anonymous: (
        rt.audit.accepting_anonymous if anonymous else rt.audit.accepting
    )
    hooks.limit_address = lambda client: rt.take(f"ip:{client}")


def serve_gateway(
    settings: Settings,
    upstream_url: str | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    gateway: GatewaySettings | None = None,
    trace_file: Path | None = None,
    extensions: Sequence[Callable[[FastAPI], None]] = (),
) -> None:
    """Serve the gateway on `host:port` until interrupted (what `aiprime gateway` runs).

    Args:
        settings: the platform's settings (database, AIPRIME_HOME).
        upstream_url: the InferenceGraph router that `POST /v1/predict` forwards to; None keeps
            AIPRIME_GATEWAY_PREDICT_URL.
        host: interface to bind; keep the loopback default unless the gateway must be reachable from outside.
        port: port to bind.
        gateway: gateway settings; None reads AIPRIME_GATEWAY_* variables.
        trace_file: where the gateway's spans go, as JSON lines (and over OTLP when the settings name an
            endpoint); None writes no file.
        extensions: each adds routes of a layer above the gateway to the app before it serves
            (`aiprime.agents.api.install`).

    Raises:
        PortInUse: the port is taken (checked before anything starts).
    """
    from aiprime.services.processes import require_free_port

    require_free_port(host, port, "the gateway", "--port")
    gateway = gateway or GatewaySettings()
    if upstream_url:
        gateway = gateway.model_copy(update={"predict_url": upstream_url})
    configure_json_logging("gateway", settings.log_dir)
    tracing.configure_tracing("gateway", trace_file, settings)
    app = create_app(settings, gateway)
    for extend in extensions:
        extend(app)
    config = server_config(
        app,
        gateway,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def _provider(given: trace.TracerProvider | None) -> trace.TracerProvider:
    if given is not None:
        return given
    current = trace.get_tracer_provider()
    return TracerProvider() if isinstance(current, trace.ProxyTracerProvider) else current


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AIPrimeError, _aiprime_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


def _answer(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None
) -> Response:
    ctx = request.state.ctx
    ctx.error = code
    return Response(
        error_body(code, message, ctx.request_id), status, headers=headers, media_type="application/json"
    )


async def _aiprime_error(request: Request, e: AIPrimeError) -> Response:
    status, code, headers = describe(e)
    return _answer(request, status, code, str(e), headers)


async def _validation_error(request: Request, e: RequestValidationError) -> Response:
    errors = e.errors()
    parts = [f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    message = f"Invalid request: {'; '.join(parts)}{more}. See /openapi.json for the expected document."
    return await _aiprime_error(request, InvalidInput(message))


async def _http_error(request: Request, e: HTTPException) -> Response:
    code = _HTTP_CODES.get(e.status_code, "http_error")
    headers = dict(e.headers or {})
    if e.status_code == 405:  # Starlette names the methods of one route; the path may have several
        headers["Allow"] = routes.allowed_methods(request)
    message = (
        f"No route {request.method} {request.url.path}; see /openapi.json for the routes."
        if e.status_code in _HTTP_CODES
        else str(e.detail)
    )
    return _answer(request, e.status_code, code, message, headers)
