"""The gateway's public routes: the data plane (forwarded upstream), OAuth2 tokens, probes, metrics.

Every data-plane route needs one permission, named like the route (`POST /v1/predict` needs `predict`).
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from aiprime.errors import AIPrimeError, InvalidInput, NotFound, ServiceUnavailable
from aiprime.gateway.auth import Caller
from aiprime.gateway.models import (
    AskRequest,
    DeployRequest,
    ErrorBody,
    ExplainRequest,
    Health,
    IngestRequest,
    OAuthError,
    PredictRequest,
    TokenAnswer,
    TrainRequest,
)
from aiprime.gateway.responses import describe
from aiprime.gateway.runtime import Runtime

ERRORS = {
    "4XX": {
        "model": ErrorBody,
        "description": "The request was refused; `error.message` says why and the fix.",
    },
    "5XX": {
        "model": ErrorBody,
        "description": "The gateway or a service behind it failed; quote the request id.",
    },
}
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from POST /oauth/token, or a service account's API key (aip_...).",
)
basic = HTTPBasic(auto_error=False, scheme_name="client", description="OAuth2 client authentication.")
router = APIRouter(responses=ERRORS)


def runtime(request: Request) -> Runtime:
    """The running gateway behind this request."""
    return request.app.state.runtime


def require(permission: str):
    """A dependency that authenticates, rate-limits and authorizes the caller for `permission`."""

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
    ) -> Caller:
        credential = credentials.credentials if credentials else None
        return await runtime(request).authorize(request.state.ctx, permission, credential)

    check.__name__ = f"require_{permission.replace('-', '_')}"
    return check


async def _forward(request: Request, name: str, body: BaseModel, caller: Caller) -> Response:
    document = body.model_dump_json(exclude_none=True).encode()
    return await runtime(request).upstreams.forward(name, document, request.state.ctx.request_id, caller.name)


@router.post("/v1/predict", tags=["inference"], summary="Classify texts with the mixture of experts")
async def predict(
    body: PredictRequest, request: Request, caller: Annotated[Caller, Depends(require("predict"))]
) -> Response:
    """Forward a KServe v1 request to the InferenceGraph router."""
    return await _forward(request, "predict", body, caller)


@router.post("/v1/explain", tags=["inference"], summary="Explain a prediction")
async def explain(
    body: ExplainRequest, request: Request, caller: Annotated[Caller, Depends(require("explain"))]
) -> Response:
    """Forward to the explainer."""
    return await _forward(request, "explain", body, caller)


@router.post("/v1/ask", tags=["inference"], summary="Answer a question from retrieved passages")
async def ask(
    body: AskRequest, request: Request, caller: Annotated[Caller, Depends(require("ask"))]
) -> Response:
    """Forward to the RAG InferenceGraph as the KServe v1 request its first step (the gate) reads:
    `{"instances": [question], "parameters": {"k": top_k}}` (kserve/graphs/README.md)."""
    graph_request = PredictRequest(instances=[body.question], parameters={"k": body.top_k})
    return await _forward(request, "ask", graph_request, caller)


@router.post("/v1/ingest", tags=["pipelines"], summary="Ingest and version a data set")
async def ingest(
    body: IngestRequest, request: Request, caller: Annotated[Caller, Depends(require("ingest"))]
) -> Response:
    """Forward to the ingestion service."""
    return await _forward(request, "ingest", body, caller)


@router.post("/v1/train", tags=["pipelines"], summary="Start a training pipeline")
async def train(
    body: TrainRequest, request: Request, caller: Annotated[Caller, Depends(require("train"))]
) -> Response:
    """Forward to the training launcher."""
    return await _forward(request, "train", body, caller)


@router.post("/v1/deploy", tags=["pipelines"], summary="Serve a registered model version")
async def deploy(
    body: DeployRequest, request: Request, caller: Annotated[Caller, Depends(require("deploy"))]
) -> Response:
    """Forward to the deployment service."""
    return await _forward(request, "deploy", body, caller)


#: RFC 6749 5.1: token answers, and errors alike, must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: RFC 6749 5.2 error codes, by the AI Prime error code the grant raised.
_OAUTH_ERRORS = {"invalid_input": "invalid_request"}


class OAuthRoute(APIRoute):
    """A route that answers as RFC 6749 says: `no-store`, errors as `{"error", "error_description"}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                answer = await handler(request)
            except RequestValidationError as e:
                answer = _oauth_error(request, InvalidInput(_validation_message(e)))
            except AIPrimeError as e:
                answer = _oauth_error(request, e)
            answer.headers.update(NO_STORE)
            return answer

        return handle


def _validation_message(e: RequestValidationError) -> str:
    fields = ", ".join(str(err["loc"][-1]) for err in e.errors()[:5])
    return (
        f"Invalid token request (fields: {fields}): send a form with `grant_type` = `password` (with "
        "`username`, `password`) or `client_credentials` (with `client_id`, `client_secret` or HTTP Basic)."
    )


def _oauth_error(request: Request, e: AIPrimeError) -> Response:
    status, code, headers = describe(e)
    error = _OAUTH_ERRORS.get(code, code)
    if code == "invalid_input" and "grant_type" in str(e):
        error = "unsupported_grant_type"
    ctx = request.state.ctx
    ctx.error = error
    document = OAuthError(error=error, error_description=str(e), request_id=ctx.request_id)
    return Response(document.model_dump_json(), status, headers=headers, media_type="application/json")


oauth = APIRouter(route_class=OAuthRoute)
OAUTH_ERRORS = {
    400: {"model": OAuthError, "description": "RFC 6749 5.2: invalid_request, invalid_grant, ..."},
    401: {"model": OAuthError, "description": "RFC 6749 5.2: invalid_client (see WWW-Authenticate)."},
    413: {"model": ErrorBody, "description": "The form is larger than the gateway accepts."},
    429: {"model": OAuthError, "description": "Too many attempts: `rate_limited`; see Retry-After."},
    "5XX": ERRORS["5XX"],
}


@oauth.post(
    "/oauth/token",
    tags=["auth"],
    response_model=TokenAnswer,
    responses=OAUTH_ERRORS,
    summary="OAuth2 token endpoint",
)
async def token(
    request: Request,
    grant_type: Annotated[Literal["password", "client_credentials"], Form()],
    client: Annotated[HTTPBasicCredentials | None, Security(basic)],
    username: Annotated[str | None, Form(max_length=128)] = None,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    client_id: Annotated[str | None, Form(max_length=128)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
) -> TokenAnswer:
    """RFC 6749: `password` for users, `client_credentials` (the API key as secret) for service accounts.

    Answers carry `Cache-Control: no-store`; errors are RFC 6749 5.2 documents (`error`, `error_description`).
    """
    rt, ctx = runtime(request), request.state.ctx
    rt.take(f"ip:{ctx.client}")  # before any password hashing: bounds guessing and the work it causes
    if grant_type == "password":
        caller = await _password_grant(rt, ctx, username, password)
    else:
        client_id, client_secret = (
            (client.username, client.password) if client else (client_id, client_secret)
        )
        if not client_id or not client_secret:
            raise InvalidInput(
                "The client_credentials grant needs `client_id` and `client_secret` (form fields "
                "or HTTP Basic); the secret is the service account's API key."
            )
        ctx.resource = f"token:{client_id}"
        caller = await rt.auth.client_credentials(client_id, client_secret)
    ctx.actor, ctx.decision = caller.name, "allow"
    access_token, ttl = rt.issuer.issue(caller.name, caller.kind, caller.principal_id, caller.key_id)
    return TokenAnswer(access_token=access_token, expires_in=ttl)


async def _password_grant(rt: Runtime, ctx: Any, username: str | None, password: str | None) -> Caller:
    if not username or password is None:
        raise InvalidInput("The password grant needs the form fields `username` and `password`.")
    ctx.resource = f"token:{username}"
    rt.take(f"ip:{ctx.client}", rt.logins)
    rt.take(f"user:{username}", rt.logins)  # also bounds guessing one account from many addresses
    return await rt.auth.password_grant(username, password)


router.include_router(oauth)  # keeps OAuthRoute for /oauth/token


@router.get("/livez", tags=["ops"], response_model=Health, summary="Liveness: the process serves")
async def livez() -> Health:
    """Always ok while the event loop runs."""
    return Health(status="ok")


@router.get("/healthz", tags=["ops"], response_model=Health, summary="Readiness: database and audit log")
@router.get("/readyz", tags=["ops"], response_model=Health, include_in_schema=False)
async def healthz(request: Request) -> Health:
    """Ok when PostgreSQL answers and the audit backlog has room; 503 otherwise."""
    rt = runtime(request)
    try:
        await run_in_threadpool(_ping, rt)
    except Exception as e:
        raise ServiceUnavailable(
            f"PostgreSQL does not answer ({type(e).__name__}); check AIPRIME_DATABASE_URL."
        ) from e
    if not rt.audit.accepting:
        raise ServiceUnavailable(f"The audit backlog is full ({rt.audit.backlog} entries unwritten).")
    return Health(status="ok")


def _ping(rt: Runtime) -> None:
    with rt.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


@router.get(
    "/metrics",
    tags=["ops"],
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    """The gateway's metrics; not answered through a proxy (a request with X-Forwarded-For) unless allowed."""
    if not request.app.state.metrics_public and "x-forwarded-for" in request.headers:
        raise NotFound("/metrics is served to in-cluster scrapers only.")
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
