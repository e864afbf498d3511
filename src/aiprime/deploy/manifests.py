"""The experts' Kubernetes objects and the local services mapping, built from the expert registry.

Each expert is one KServe InferenceService in Standard deployment mode (Deployment, Service and HPA, no
Knative) running its modality's model server, plus a PodDisruptionBudget. The settings every predictor
shares (security context, probes, volumes) are patched onto all of them by
`kustomize/base/inference/predictor-defaults.yaml`, so only what differs per expert is generated here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiprime.errors import ConfigError
from aiprime.moe.experts import ExpertSpec
from aiprime.serving.media_models import MEDIA_SERVERS
from aiprime.serving.names import service_name

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # Kubernetes object and Service names

HTTP_PORT = 8080  # every model server's port in its pod
# The servers around the experts, in the order their local ports follow the experts'.
AFTER_EXPERTS = ("combiner", "retriever", "generator")
GATE_LOCAL_PORT = 8081  # services.local.yaml: the gate, then each expert, then AFTER_EXPERTS


def check_names(specs: Sequence[ExpertSpec]) -> None:
    """Raise ConfigError naming an expert whose service name Kubernetes would refuse."""
    for spec in specs:
        name = service_name("expert", spec.domain)
        if not _DNS_LABEL.fullmatch(name):
            raise ConfigError(
                f"Expert {spec.name!r} would be served as {name!r}, which is not a valid Kubernetes name; give "
                "it a domain of lower-case letters, digits and '_' (at most 56 characters) in aiprime/moe/experts.py."
            )


def inference_service(spec: ExpertSpec) -> dict[str, Any]:
    """The expert's InferenceService: its model server, domain, replicas and size."""
    name, serving = service_name("expert", spec.domain), spec.serving
    args = ["python", f"/app/kserve/{spec.server}", "--model_name", name, "--domain", spec.domain]
    container = {
        "name": "kserve-container",
        "image": "aiprime",
        "args": [*args, "--http_port", str(HTTP_PORT)],
        "resources": {
            "requests": {"cpu": serving.cpu[0], "memory": serving.memory[0]},
            "limits": {"cpu": serving.cpu[1], "memory": serving.memory[1]},
        },
    }
    predictor = {
        "minReplicas": serving.min_replicas,
        "maxReplicas": serving.max_replicas,
        "scaleMetric": "cpu",
        "scaleTarget": 70,  # percent of the CPU request
        "labels": {"app.kubernetes.io/name": name},  # NetworkPolicies grant access by pod labels
        "containers": [container],
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/component": "inference",
                "aiprime.io/modality": spec.modality.value,
            },
            "annotations": {
                "serving.kserve.io/deploymentMode": "Standard",
                "serving.kserve.io/autoscalerClass": "hpa",
            },
        },
        "spec": {"predictor": predictor},
    }


def disruption_budget(spec: ExpertSpec) -> dict[str, Any]:
    """A PodDisruptionBudget that keeps all but one of the expert's replicas through a node drain."""
    name = service_name("expert", spec.domain)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"serving.kserve.io/inferenceservice": name}},
        },
    }


def expert_objects(specs: Sequence[ExpertSpec]) -> list[dict[str, Any]]:
    """Every expert's InferenceService followed by its PodDisruptionBudget, in registry order."""
    return [obj for spec in specs for obj in (inference_service(spec), disruption_budget(spec))]


def local_services(specs: Sequence[ExpertSpec]) -> dict[str, str]:
    """`serviceName` -> the predict URL KServe would resolve it to, on consecutive loopback ports."""
    names = ["gate", *(service_name("expert", s.domain) for s in specs), *AFTER_EXPERTS, *MEDIA_SERVERS]
    return {
        name: f"http://127.0.0.1:{GATE_LOCAL_PORT + i}/v1/models/{name}:predict"
        for i, name in enumerate(names)
    }
