"""The console's routes: its page (`/console/`, open: it holds no data) and the JSON it reads, each route
needing the permission `console`. Every request goes through the gateway's middleware: limited and audited.

The console asks and explains through the gateway's own `/v1/ask` and `/v1/explain` (permissions `ask` and
`explain`); what it adds is read-only: the lineage of an answer or a model version as a node-edge graph,
the champions and challengers with the drift check, and where the Dagster and MLflow UIs are.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from aiprime.errors import NotFound, ServiceUnavailable
from aiprime.gateway.auth import Caller
from aiprime.gateway.console import asset, catalog
from aiprime.gateway.console.graph import lineage_graph, model_lineage_graph
from aiprime.gateway.routes import ERRORS, require, runtime
from aiprime.provenance import document
from aiprime.settings import Settings
from aiprime.versioning import find_repo_root

PERMISSION = "console"
#: The page loads nothing from elsewhere, runs no inline script, and cannot be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
User = Annotated[Caller, Depends(require(PERMISSION))]
RequestId = Annotated[str, Path(min_length=1, max_length=200, description="The gateway's x-request-id.")]
ModelName = Annotated[str, Path(min_length=1, max_length=200, description="A registered model's name.")]
Version = Annotated[str, Path(pattern=r"^[0-9]{1,9}$", description="A version number.")]
router = APIRouter(responses=ERRORS, tags=["console"])


class Links(BaseModel):
    """Who is signed in to the console, and where the platform's other UIs are."""

    user: str
    permissions: list[str] = Field(description="What the signed-in principal may do (ask, explain, ...).")
    dagster_url: str
    mlflow_url: str


class GraphNode(BaseModel):
    """An entity, activity or agent of a PROV document."""

    id: str
    kind: str = Field(description="Entity, Activity or Agent.")
    label: str
    attributes: dict[str, str]


class GraphEdge(BaseModel):
    """A PROV relation, read `source relation target` (e.g. answer Generation request)."""

    source: str
    target: str
    relation: str


class MissingLink(BaseModel):
    """A link of the chain that no stored fact resolves."""

    link: str
    reason: str


class LineageGraph(BaseModel):
    """A lineage as nodes and edges, with the links it could not resolve."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    missing: list[MissingLink]


class ModelVersionOut(BaseModel):
    """A champion or challenger version with its training run's metrics and lineage tags."""

    name: str
    version: str
    aliases: list[str]
    metrics: dict[str, float]
    tags: dict[str, str]
    run_id: str | None


class DriftOut(BaseModel):
    """The last drift check of the gate's traffic."""

    checked: bool
    drifted: bool | None
    p_values: dict[str, float]
    requests: int | None
    last_run: float | None = Field(description="Unix time of the check.")
    message: str


class ModelsView(BaseModel):
    """The Models view: champions and challengers (or why MLflow could not list them) and drift."""

    models: list[ModelVersionOut]
    models_error: str | None = Field(description="Why the models could not be listed; null when they were.")
    drift: DriftOut


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the console from `app`, reading MLflow, the checkout and AIPRIME_HOME as `settings` say."""
    app.state.console_settings = settings
    app.include_router(router)


def _settings(request: Request) -> Settings:
    return request.app.state.console_settings


@router.get("/console", include_in_schema=False)
async def console_root() -> Response:
    """The page lives at /console/ (its files are addressed relative to it)."""
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/", include_in_schema=False)
async def console_page() -> Response:
    """The page."""
    return _file("index.html")


@router.get("/console/{name}", include_in_schema=False)
async def console_file(name: str) -> Response:
    """The page's own files (app.js, style.css); nothing else is served from here."""
    return _file(name)


def _file(name: str) -> Response:
    body, media_type = asset(name)
    return Response(body, media_type=media_type, headers=PAGE_HEADERS)


@router.get("/v1/console/links", response_model=Links, summary="The signed-in user and the other UIs")
async def links(request: Request, caller: User) -> Links:
    """The caller's name and permissions, and the Dagster and MLflow UIs' addresses (from Settings)."""
    settings = _settings(request)
    return Links(
        user=caller.name,
        permissions=sorted(caller.permissions),
        dagster_url=f"http://{settings.host}:{settings.dagster_port}",
        mlflow_url=settings.mlflow_url,
    )


@router.get(
    "/v1/console/lineage/request/{request_id}",
    response_model=LineageGraph,
    summary="Where an answer came from, as a graph",
)
async def request_lineage(request_id: RequestId, request: Request, caller: User) -> LineageGraph:
    """The W3C PROV lineage of one gateway request (`aiprime lineage REQUEST_ID`) as nodes and edges.

    404 for a request id the audit log does not hold; 422 when one of its audit rows was altered.
    """
    where = _sources(_settings(request))
    engine = runtime(request).engine
    found = await run_in_threadpool(document.request_lineage, where, engine, request_id)
    return LineageGraph.model_validate(lineage_graph(found))


@router.get(
    "/v1/console/lineage/model/{name}/{version}",
    response_model=LineageGraph,
    summary="Where a model version came from, as a graph",
)
async def model_lineage(name: ModelName, version: Version, request: Request, caller: User) -> LineageGraph:
    """The W3C PROV lineage of a registered model version; 404 when MLflow no longer has it (when MLflow does
    not answer, the graph is empty and its one missing link says so)."""
    where = _sources(_settings(request))
    return LineageGraph.model_validate(await run_in_threadpool(model_lineage_graph, where, name, version))


@router.get("/v1/console/models", response_model=ModelsView, summary="Champions, challengers and drift")
async def models(request: Request, caller: User) -> ModelsView:
    """The registered models' champion and challenger versions, and the last drift check."""
    settings = _settings(request)
    drift = await run_in_threadpool(catalog.drift_status, settings.home / "metrics")
    try:
        found = await run_in_threadpool(catalog.champions_and_challengers, settings.mlflow_url)
    except ServiceUnavailable as e:
        return ModelsView(models=[], models_error=str(e), drift=DriftOut(**asdict(drift)))
    return ModelsView(
        models=[ModelVersionOut(**asdict(m)) for m in found],
        models_error=None,
        drift=DriftOut(**asdict(drift)),
    )


def _sources(settings: Settings) -> document.Sources:
    """Where lineage facts are: the checkout the gateway runs in (its data/dvc.lock), when it runs in one."""
    try:
        root = find_repo_root(FilePath.cwd())
    except NotFound:
        root = FilePath.cwd()  # no checkout: the dataset links are reported missing, not guessed
    return document.Sources.of(settings, root)
