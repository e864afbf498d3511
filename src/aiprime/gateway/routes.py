"""The gateway's public routes: the data plane (forwarded upstream), OAuth2 tokens, probes, metrics.

Every data-plane route needs one permission, named like the route (`POST /v1/predict` needs `predict`).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBearer,
    OAuth2,
)
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import compile_path

from aiprime.errors import InvalidInput, NotFound, ServiceUnavailable, UnsupportedMediaType
from aiprime.gateway import oauth
from aiprime.gateway.auth import Caller
from aiprime.gateway.models import (
    AskRequest,
    DeployRequest,
    ErrorBody,
    ExplainRequest,
    Health,
    IngestRequest,
    PredictRequest,
    SearchRequest,
    TrainRequest,
)
from aiprime.gateway.runtime import Runtime
from aiprime.gateway.upstream import served_by

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
#: The same bearer tokens, described as OAuth2 flows so that clients (and schemathesis) find the token URL.
oauth2 = OAuth2(
    flows=OAuthFlows(
        password=OAuthFlowPassword(tokenUrl="/oauth/token"),
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token"),
    ),
    scheme_name="oauth2",
    auto_error=False,
    description="Users: the password grant; service accounts: client_credentials with an API key.",
)
router = APIRouter(responses=ERRORS)


def allowed_methods(request: Request) -> str:
    """The methods the API documents at this request's path, for the `Allow` header of a 405."""
    methods = set()
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def runtime(request: Request) -> Runtime:
    """The running gateway behind this request."""
    return request.app.state.runtime


def require(permission: str):
    """A dependency that authenticates, rate-limits and authorizes the caller for `permission`."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        _: Annotated[str | None, Security(oauth2)],  # the same header: only documents the flows
    ) -> Caller:
        credential = credentials.credentials if credentials else None
        return await runtime(request).authorize(request.state.ctx, permission, credential)

    check.__name__ = f"require_{permission.replace('-', '_')}"
    return check


async def _forward(request: Request, name: str, body: BaseModel, caller: Caller) -> Response:
    document = body.model_dump_json(exclude_none=True).encode()
    ctx = request.state.ctx
    answer = await runtime(request).upstreams.forward(name, document, ctx.request_id, caller.name)
    ctx.served = served_by(answer)  # the versions and chunks that made it: the audit entry keeps them
    return answer


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


@router.post("/v1/search", tags=["inference"], summary="Retrieve passages without answering")
async def search(
    body: SearchRequest, request: Request, caller: Annotated[Caller, Depends(require("ask"))]
) -> Response:
    """Forward to the retriever as its KServe v1 request: `{"instances": [query], "parameters": {"k": top_k}}`
    (the read half of `ask`, so `ask` guards it)."""
    retriever_request = PredictRequest(instances=[body.query], parameters={"k": body.top_k})
    return await _forward(request, "search", retriever_request, caller)


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


#: The bodies the multimodal graph takes: a v2 binary request, or v1/v2 JSON with base64 files (or text).
MEDIA_BODY = {
    "description": "A v2 binary request (with Inference-Header-Content-Length: its JSON header's length), or "
    "v1/v2 JSON with base64 files or text.",
    "required": True,
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object"}},
    },
}
#: A binary body also needs `Inference-Header-Content-Length` (its JSON header's length), forwarded as sent; it is
#: not declared as a parameter, since its valid values depend on the body.
MEDIA_DOC = {"requestBody": MEDIA_BODY}


async def _forward_media(request: Request, name: str, caller: Caller) -> Response:
    """Forward the body byte for byte to the multimodal graph, with the headers that say how to read it."""
    body, headers = await _media_body(request)
    ctx = request.state.ctx
    answer = await runtime(request).upstreams.forward(name, body, ctx.request_id, caller.name, headers)
    ctx.served = served_by(answer)  # as `_forward`: the audit entry keeps what served it
    return answer


async def _media_body(request: Request) -> tuple[bytes, dict[str, str]]:
    """The body and the headers that say how to read it (the graph's modality step parses it strictly).

    Raises:
        UnsupportedMediaType: Neither a binary nor a JSON body (415).
        InvalidInput: A header length that cannot be, or a JSON body that is not an object (400).
    """
    body, kind = await request.body(), request.headers.get("content-type", "").split(";")[0].strip()
    length = request.headers.get("inference-header-content-length")
    if kind not in ("application/octet-stream", "application/json"):
        raise UnsupportedMediaType(
            f"Content-Type {kind or '(none)'!r}: send application/octet-stream (a v2 binary request) or "
            "application/json (v1 or v2 JSON, files in base64)."
        )
    if length is not None and not (length.isdigit() and 0 < int(length) <= len(body)):
        raise InvalidInput(
            f"Inference-Header-Content-Length: {length[:20]!r} must be the JSON header's length in bytes, "
            f"at most the body's {len(body):,}."
        )
    if kind == "application/json" and not body.lstrip().startswith(b"{"):
        raise InvalidInput('The JSON body must be an object: {"instances": [...]} or {"inputs": [...]}.')
    headers = {"content-type": kind} | ({"inference-header-content-length": length} if length else {})
    return body, headers


@router.post("/v1/predict/media", tags=["inference"], summary="Classify an image, a spoken or a typed text",
             openapi_extra=MEDIA_DOC)  # fmt: skip
async def predict_media(request: Request, caller: Annotated[Caller, Depends(require("predict"))]) -> Response:
    """Forward to the multimodal InferenceGraph (`kserve/graphs/multimodal.yaml`): an image's domain from the
    image expert, speech's transcript or a text through the gate and its expert; other sound is a 422."""
    return await _forward_media(request, "media_predict", caller)


@router.post("/v1/ask/media", tags=["inference"], summary="Answer an image or a spoken question with citations",
             openapi_extra=MEDIA_DOC)  # fmt: skip
async def ask_media(request: Request, caller: Annotated[Caller, Depends(require("ask"))]) -> Response:
    """Forward to the multimodal RAG InferenceGraph (`kserve/graphs/rag-multimodal.yaml`)."""
    return await _forward_media(request, "media_ask", caller)


router.include_router(oauth.router)  # keeps its OAuthRoute (RFC 6749 answers) for /oauth/token


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
