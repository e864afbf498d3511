"""The deployment asset: which model versions the local servers load, and what they answer.

Materialising `deployment` restarts the serving stack of `aiprime serve --rag` (gate, experts, combiner,
retriever, generator and the InferenceGraph router on `kserve/graphs/rag.yaml`) on the MLflow champions,
records the version each server loaded, and sends the sample queries through the graph; with `rag: false`
it serves `top1.yaml` without the retriever and generator. The gateway (`aiprime gateway`, with the console)
runs in front of the router unless `gateway: false`. The stack keeps running afterwards (`aiprime serve stop` stops it).
A second run that changed nothing the stack serves (champions, graph, settings, code) keeps it and only asks.
On a cluster the same versions go out through the InferenceServices in `kustomize/`.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from aiprime import versioning
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings

GROUP = "serving"


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
    from aiprime.serving import launcher, samples  # the router and the KServe client: imported on use

    settings = workspace.settings
    graph = launcher.RAG_GRAPH if config.rag else launcher.ServeOptions.graph
    options = launcher.ServeOptions(router_port=0, rag=config.rag, graph=graph, gateway=config.gateway)
    serving_key = serving_fingerprint(workspace, options)
    served = current_stack(context, settings, serving_key)
    if served is not None:
        answers = samples.ask_samples(served)
        context.log.info(f"kept the running stack behind {served.router_url}: nothing it serves changed")
    else:
        served, answers = samples.serve_and_ask(settings, options=options)
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


def serving_fingerprint(workspace: Workspace, options: Any) -> str:
    """A hash of what a started stack depends on besides the champions: options, settings and code."""
    root = workspace.root
    code = [*(root / "src" / "aiprime").rglob("*.py"), *(root / "kserve").rglob("*.py"), Path(options.graph)]
    settings = workspace.settings.model_dump_json(exclude={"home"})
    described = f"{options!r}\x00{settings}\x00{versioning.fingerprint([root / p for p in code])}"
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def current_stack(context: dg.AssetExecutionContext, settings: Settings, serving_key: str) -> Any | None:
    """The running stack when the last materialisation started it with `serving_key` and it still serves
    those champions with every server alive; else None (the stack is restarted)."""
    from aiprime.serving import launcher, samples

    stack = launcher.running(settings)
    event = context.instance.get_latest_materialization_event(context.asset_key)
    if stack is None or event is None or launcher.dead(settings):
        return None
    last = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    if last.get("serving_key") != serving_key or last.get("router") != stack.router_url:
        return None
    return stack if samples.served_versions(stack, settings.mlflow_url) == last.get("versions") else None
