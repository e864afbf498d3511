"""A local router for KServe InferenceGraphs: load a graph YAML, validate it, and serve it as KServe does.

    from aiprime.serving.graph import load_graph, load_services, create_app, serve_router

    serve_router("kserve/graphs/top1.yaml", "kserve/graphs/services.local.yaml", port=8080)

Modules: `spec` (the graph as frozen dataclasses, loading and validation), `gjson` (the condition
language), `engine` (KServe's routing semantics), `upstream` (calls to model servers), `resilience`
(opt-in retries and avoidance), `telemetry` (metrics and traces), `app` (the HTTP app), `combine` (the
top-2 combiner's arithmetic).
"""

from aiprime.serving.graph.app import create_app, load_app, serve_router
from aiprime.serving.graph.config import RouterConfig
from aiprime.serving.graph.resilience import AvoidancePolicy, RetryPolicy, RouterPolicy
from aiprime.serving.graph.spec import (
    InferenceGraph,
    Node,
    Step,
    Target,
    load_graph,
    load_services,
    parse_graph,
)

__all__ = [
    "AvoidancePolicy",
    "InferenceGraph",
    "Node",
    "RetryPolicy",
    "RouterConfig",
    "RouterPolicy",
    "Step",
    "Target",
    "create_app",
    "load_app",
    "load_graph",
    "load_services",
    "parse_graph",
    "serve_router",
]
