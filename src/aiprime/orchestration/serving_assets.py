"""The deployment asset: which model versions the local servers load, and what they answer.

Materialising `deployment` restarts the serving stack of `aiprime serve --rag` (gate, experts, combiner,
retriever, generator and the InferenceGraph router on `kserve/graphs/rag.yaml`) on the MLflow champions,
records the version each server loaded, and sends the sample queries through the graph; with `rag: false`
it serves `top1.yaml` without the retriever and generator. The gateway (`aiprime gateway`, with the console)
runs in front of the router unless `gateway: false`; the sample queries then go through it as the run's
service account `aiprime-run`, so that each lands in the audit log and `aiprime lineage` resolves it. The
stack keeps running afterwards (`aiprime serve stop` stops it).
A second run that changed nothing the stack serves (champions, graph, settings, code) keeps it and only asks.
On a cluster the same versions go out through the InferenceServices in `kustomize/`.

`first_answer` serves early: as soon as the models are trained and the WordNet part of the store is filled, it
starts the same stack on what is ready (exact search over WordNet, no re-ranker yet) and answers a first
question through the graph, recording when. The stack then serves while FOLDOC, the Python docs, the HNSW index
and the re-ranker fill in (the retriever reads the live table); `deployment` restarts it on all of them.
"""

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from aiprime import versioning
from aiprime.observability import progress
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings

GROUP = "serving"
DEPLOYMENT = dg.AssetKey("deployment")
# What the early stack does not serve yet, in the order the job fills it in (the steps after `first_answer`).
STILL_FILLING = ("FOLDOC and Python docs in the store", "the HNSW index", "the re-ranker")


class DeploymentConfig(dg.Config):
    """Which graph the local stack serves."""

    rag: bool = Field(
        True, description="Serve the RAG graph (retriever and generator too); false: top1.yaml."
    )
    gateway: bool = Field(
        True, description="Put the gateway in front of the router: the console, tokens, RBAC and audit."
    )


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("moe_models"), dg.AssetKey("vector_index"), dg.AssetKey("reranker_calibration")],
    kinds={"kserve"},
)
def deployment(
    context: dg.AssetExecutionContext, config: DeploymentConfig, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The local serving stack on the champions, with sample queries answered through its graph.

    A stack that still runs what the last materialisation started (the same champions, graph, settings
    and code) is kept rather than restarted.
    """
    from aiprime.serving import samples  # the router and the KServe client: imported on use

    settings = workspace.settings
    options = serve_options(config)
    serving_key = serving_fingerprint(workspace, options)
    served, token = current_stack(context.instance, settings, serving_key), run_token(workspace, options)
    if served is not None:
        answers = samples.ask_samples(served, token=token)
        context.log.info(f"kept the running stack behind {served.router_url}: nothing it serves changed")
    else:
        served, answers = samples.serve_and_ask(settings, options=options, token=token)
    versions = samples.served_versions(served, settings.mlflow_url)
    context.log.info(f"serving {versions} behind {served.router_url}")
    fingerprint = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
    return dg.MaterializeResult(
        metadata={
            "router": served.router_url,
            "gateway": served.gateway_url or "",
            "graph": served.graph,
            "versions": dg.MetadataValue.json(versions),
            "answers": dg.MetadataValue.json(samples.as_records(answers)),
            "serving_key": serving_key,
        },
        data_version=dg.DataVersion(fingerprint),
    )


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("moe_models"), dg.AssetKey("wordnet_embeddings")],
    kinds={"kserve"},
)
def first_answer(
    context: dg.AssetExecutionContext, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The first question answered through the RAG graph, as soon as the models and the WordNet part of the
    store are ready: the stack serves from then on while the rest of the store and the re-ranker fill in.

    A stack the last `deployment` left running on the same champions, settings and code answers instead.
    """
    from aiprime.serving import samples

    settings, query = workspace.settings, samples.SAMPLE_QUERIES[:1]
    with progress.stage("serving early: the first answer through the graph"):
        options = serve_options(DeploymentConfig())
        served = current_stack(context.instance, settings, serving_fingerprint(workspace, options))
        reused, token = served is not None, run_token(workspace, options)
        if served is None:
            served, answers = samples.serve_and_ask(settings, query, options=options, token=token)
        else:
            answers = samples.ask_samples(served, query, token)
    context.log.info(f"first answer at {time.strftime('%H:%M:%S')}: {answers[0]}")
    return dg.MaterializeResult(
        metadata={
            "answered_at": time.time(),
            "answer": dg.MetadataValue.json(samples.as_records(answers)[0]),
            "router": served.router_url,
            "stack": "kept from the last run" if reused else "started on what was ready",
            "chunks_served": stored_chunks(workspace),
            "still_filling": dg.MetadataValue.json([] if reused else list(STILL_FILLING)),
        }
    )


def stored_chunks(workspace: Workspace) -> int:
    """The chunks of the collection the retriever searches, as stored now."""
    import sqlalchemy as sa

    from aiprime.rag import store

    with workspace.app_db().connect() as conn:
        cid = store.collection_id(conn, workspace.settings.rag_collection)
        query = (
            sa.select(sa.func.count()).select_from(store.chunks).where(store.chunks.c.collection_id == cid)
        )
        return int(conn.execute(query).scalar_one())


def serve_options(config: DeploymentConfig) -> Any:
    """The `launcher.ServeOptions` of `config`: the RAG graph or top1.yaml, the gateway or not."""
    from aiprime.serving import launcher

    graph = launcher.RAG_GRAPH if config.rag else launcher.ServeOptions.graph
    return launcher.ServeOptions(router_port=0, rag=config.rag, graph=graph, gateway=config.gateway)


def run_token(workspace: Workspace, options: Any) -> Callable[[], str] | None:
    """What mints tokens of the run's service account when the stack runs the gateway (the samples go through
    it as that principal); None without a gateway (they go straight to the router)."""
    if not options.gateway:
        return None
    from aiprime.gateway.console.access import run_token as account_token  # FastAPI and security: on use

    engine = workspace.app_db()
    return lambda: account_token(workspace.settings, engine)


def serving_fingerprint(workspace: Workspace, options: Any) -> str:
    """A hash of what a started stack depends on besides the champions: options, settings and code."""
    root = workspace.root
    code = [*(root / "src" / "aiprime").rglob("*.py"), *(root / "kserve").rglob("*.py"), Path(options.graph)]
    settings = workspace.settings.model_dump_json(exclude={"home"})
    described = f"{options!r}\x00{settings}\x00{versioning.fingerprint([root / p for p in code])}"
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def current_stack(instance: dg.DagsterInstance, settings: Settings, serving_key: str) -> Any | None:
    """The running stack when the last `deployment` started it with `serving_key` and it still serves
    those champions with every server alive; else None (the stack is restarted)."""
    from aiprime.serving import launcher, samples

    stack = launcher.running(settings)
    event = instance.get_latest_materialization_event(DEPLOYMENT)
    if stack is None or event is None or launcher.dead(settings):
        return None
    last = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    if last.get("serving_key") != serving_key or last.get("router") != stack.router_url:
        return None
    return stack if samples.served_versions(stack, settings.mlflow_url) == last.get("versions") else None
