"""The deployment asset: which model versions the local servers load, and what they answer.

Materialising `deployment` restarts the serving stack of `aiprime serve` (gate, experts, combiner and the
InferenceGraph router) on the MLflow champions, records the version each server loaded, and sends the
sample queries through the graph. The stack keeps running afterwards (`aiprime serve stop` stops it).
On a cluster the same versions go out through the InferenceServices in `kustomize/`.
"""

import hashlib
import json

import dagster as dg

from aiprime.orchestration.resources import Workspace

GROUP = "serving"


@dg.asset(group_name=GROUP, deps=[dg.AssetKey("moe_models")], kinds={"kserve"})
def deployment(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
    """The local serving stack on the champions, with sample queries answered through its graph."""
    from aiprime.serving import samples  # the router and the KServe client: imported on use

    settings = workspace.settings
    served, answers = samples.serve_and_ask(settings)
    versions = samples.served_versions(served, settings.mlflow_url)
    context.log.info(f"serving {versions} behind {served.router_url}")
    fingerprint = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
    return dg.MaterializeResult(
        metadata={"router": served.router_url, "graph": served.graph, "versions": dg.MetadataValue.json(versions),
                  "answers": dg.MetadataValue.json(samples.as_records(answers))},
        data_version=dg.DataVersion(fingerprint))
