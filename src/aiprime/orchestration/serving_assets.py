"""The deployment asset: which model versions the local servers load, and what they answer.

Materialising `deployment` restarts the serving stack of `aiprime serve --rag` (gate, experts, combiner,
retriever, generator and the InferenceGraph router on `kserve/graphs/rag.yaml`) on the MLflow champions,
records the version each server loaded, and sends the sample queries through the graph; with `rag: false`
it serves `top1.yaml` without the retriever and generator. The stack keeps running afterwards (`aiprime serve stop` stops it).
On a cluster the same versions go out through the InferenceServices in `kustomize/`.
"""

import hashlib
import json

import dagster as dg
from pydantic import Field

from aiprime.orchestration.resources import Workspace

GROUP = "serving"


class DeploymentConfig(dg.Config):
    """Which graph the local stack serves."""

    rag: bool = Field(
        True, description="Serve the RAG graph (retriever and generator too); false: top1.yaml."
    )


@dg.asset(group_name=GROUP, deps=[dg.AssetKey("moe_models"), dg.AssetKey("vector_index")], kinds={"kserve"})
def deployment(
    context: dg.AssetExecutionContext, config: DeploymentConfig, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The local serving stack on the champions, with sample queries answered through its graph."""
    from aiprime.serving import launcher, samples  # the router and the KServe client: imported on use

    settings = workspace.settings
    graph = launcher.RAG_GRAPH if config.rag else launcher.ServeOptions.graph
    options = launcher.ServeOptions(router_port=0, rag=config.rag, graph=graph)
    served, answers = samples.serve_and_ask(settings, options=options)
    versions = samples.served_versions(served, settings.mlflow_url)
    context.log.info(f"serving {versions} behind {served.router_url}")
    fingerprint = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
    return dg.MaterializeResult(
        metadata={
            "router": served.router_url,
            "graph": served.graph,
            "versions": dg.MetadataValue.json(versions),
            "answers": dg.MetadataValue.json(samples.as_records(answers)),
        },
        data_version=dg.DataVersion(fingerprint),
    )
