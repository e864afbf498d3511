"""The experts' and the media servers' Kubernetes objects and the local services mapping, built from the
expert registry and `aiprime.serving.media_models.MEDIA_SERVERS`.

Each expert and each media server is one KServe InferenceService in Standard deployment mode (Deployment,
Service and HPA, no Knative) running its model server, plus a PodDisruptionBudget. The settings every
predictor shares (security context, probes, volumes) are patched onto all of them by
`kustomize/base/inference/predictor-defaults.yaml`, so only what differs per server is generated here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from aiprime.errors import ConfigError
from aiprime.moe.experts import ExpertSpec, ServingSpec
from aiprime.serving.media_models import IMAGE_EXPERT, MEDIA_SERVERS, MODALITY
from aiprime.serving.names import service_name

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # Kubernetes object and Service names

HTTP_PORT = 8080  # every model server's port in its pod
# The servers around the experts, in the order their local ports follow the experts'.
AFTER_EXPERTS = ("combiner", "retriever", "generator")
GATE_LOCAL_PORT = 8081  # services.local.yaml: the gate, then each expert, then AFTER_EXPERTS
# How each media server is sized on a cluster; a server MEDIA_SERVERS adds without an entry gets ServingSpec's
# defaults. `OMP_NUM_THREADS=1 python bench/media_server_footprint.py --requests 3 --words 75` (2-core machine,
# load 3 to 6): modality peaked at 745 MB resident and took 8.0 to 9.3 s of CPU on one Whisper thread per
# 21 s clip (a 30 s clip, the longest it takes, needs about 13 s against the graph's 30 s serviceClient), so
# it gets two cores for two threads; image-expert peaked at 477 MB and took 0.04 to 0.07 s of CPU per image.
MEDIA_SERVING: Mapping[str, ServingSpec] = {
    MODALITY: ServingSpec(min_replicas=1, max_replicas=4, cpu=("2", "4"), memory=("1Gi", "2Gi")),
    IMAGE_EXPERT: ServingSpec(min_replicas=1, max_replicas=4, cpu=("500m", "1"), memory=("768Mi", "1536Mi")),
}
# Arguments beyond the common ones: Whisper's threads, at most the cores the pod requests to itself.
MEDIA_ARGS: Mapping[str, tuple[str, ...]] = {MODALITY: ("--speech_threads", "2")}


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
    name = service_name("expert", spec.domain)
    isvc = server_service(name, replace(spec.serving, server=spec.server), ("--domain", spec.domain))
    isvc["metadata"]["labels"]["aiprime.io/modality"] = spec.modality.value
    return isvc


def media_serving(name: str) -> ServingSpec:
    """How the media server `name` (a key of MEDIA_SERVERS) is deployed: its size and its kserve/ folder."""
    return replace(MEDIA_SERVING.get(name, ServingSpec()), server=MEDIA_SERVERS[name])


def server_service(name: str, serving: ServingSpec, args: Sequence[str] = ()) -> dict[str, Any]:
    """The InferenceService `name` running `python /app/kserve/<serving.server>` with `args`, sized by
    `serving` and scaled on CPU by an HPA."""
    command = ["python", f"/app/kserve/{serving.server}", "--model_name", name, *args]
    container = {
        "name": "kserve-container",
        "image": "aiprime",
        "args": [*command, "--http_port", str(HTTP_PORT)],
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
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "inference"},
            "annotations": {
                "serving.kserve.io/deploymentMode": "Standard",
                "serving.kserve.io/autoscalerClass": "hpa",
            },
        },
        "spec": {"predictor": predictor},
    }


def disruption_budget(name: str) -> dict[str, Any]:
    """A PodDisruptionBudget that keeps all but one of the InferenceService's replicas through a node drain."""
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
    isvcs = [inference_service(spec) for spec in specs]
    return [obj for isvc in isvcs for obj in (isvc, disruption_budget(isvc["metadata"]["name"]))]


def media_objects() -> list[dict[str, Any]]:
    """Every media server's InferenceService followed by its PodDisruptionBudget, in MEDIA_SERVERS order."""
    isvcs = [server_service(name, media_serving(name), MEDIA_ARGS.get(name, ())) for name in MEDIA_SERVERS]
    return [obj for isvc in isvcs for obj in (isvc, disruption_budget(isvc["metadata"]["name"]))]


def local_services(specs: Sequence[ExpertSpec]) -> dict[str, str]:
    """`serviceName` -> the predict URL KServe would resolve it to, on consecutive loopback ports."""
    names = ["gate", *(service_name("expert", s.domain) for s in specs), *AFTER_EXPERTS, *MEDIA_SERVERS]
    return {
        name: f"http://127.0.0.1:{GATE_LOCAL_PORT + i}/v1/models/{name}:predict"
        for i, name in enumerate(names)
    }
