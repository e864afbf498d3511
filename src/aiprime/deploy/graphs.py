"""The InferenceGraphs of the mixture of experts, built from the expert registry.

Every graph chains the gate to the experts with KServe semantics (`kserve/graphs/README.md`). Each bounds
its calls with `routerTimeouts.serviceClient`. KServe's router fails the whole graph with 500 when a call
times out, whatever the step's dependency, so a timeout cannot fall back inside one graph. The fallback
graph therefore calls each choice through a graph of its own (`moe-first-choice`, `moe-second-choice`)
with a shorter `serviceClient`: when the chosen expert hangs, that router answers a JSON error (HTTP 500)
within its limit, and the outer graph's `condition: error` step falls back to the next choice.

A calibrated gate says in its record whether it is `confident` (its first choice's probability reached the
threshold chosen on val, `aiprime.moe.calibration`). The top-1 graph does not trust an unsure route: it asks
the gate's first two choices and combines them, as the top-2 graph does. In the RAG graph the expert carries
the gate's doubt on, and the retriever then prefers no domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiprime.errors import ConfigError
from aiprime.moe.experts import ExpertSpec
from aiprime.serving.media_models import IMAGE_CONDITION, IMAGE_EXPERT, MODALITY, TEXT_CONDITION
from aiprime.serving.names import route_name, service_name

API_VERSION = "serving.kserve.io/v1alpha1"
ALWAYS = "predictions.#"  # resolves on every gate response: a Switch's default branch
UNSURE = "predictions.#(confident==false)"  # a calibrated gate's first choice is below its threshold
COMBINE = {"name": "combine", "serviceName": "combiner", "data": "$response", "dependency": "Hard"}
GENERALIST = "abstractions"  # the expert that answers when the gate's choices fail or name no expert
# Seconds. A model server answers in milliseconds; a hung one is cut off after CHOICE_CALL_S and the
# fallback graph moves on. The outer graph waits longer than its choice graphs, so they answer first.
CHOICE_CALL_S = 5
CALL_S = 15
REQUEST_S = 60
RAG_CALL_S, RAG_REQUEST_S = 90, 120  # the generator's answer is the slowest call
MEDIA_CALL_S = 30  # transcribing a 30 s clip is the multimodal graph's slowest call


def expert_switch(specs: Sequence[ExpertSpec], field: str, default: str | None = None) -> dict[str, Any]:
    """A Switch node that calls the expert whose route name the gate record's `field` holds.

    Args:
        specs: the registered experts.
        field: the gate record's field to match: `expert`, `experts.0`, `experts.1`.
        default: the route name of the expert that answers when no expert matches (None: no default).
    """
    steps = [
        {
            "name": route_name(spec.domain),
            "serviceName": service_name("expert", spec.domain),
            "condition": f'predictions.#({field}=="{route_name(spec.domain)}")',
        }
        for spec in specs
    ]
    if default is not None:
        steps.append({"name": "default", "serviceName": f"expert-{default}", "condition": ALWAYS})
    return {"routerType": "Switch", "steps": steps}


def graph(name: str, nodes: dict[str, Any], call_s: int, request_s: int) -> dict[str, Any]:
    """An InferenceGraph document: KServe's Standard deployment mode, the given timeouts and nodes."""
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceGraph",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "inference-graph"},
            "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
        },
        "spec": {"timeout": request_s, "routerTimeouts": {"serviceClient": call_s}, "nodes": nodes},
    }


def _gate_then(step: dict[str, Any]) -> dict[str, Any]:
    gate = {"name": "gate", "serviceName": "gate", "dependency": "Hard"}
    return {"routerType": "Sequence", "steps": [gate, {**step, "data": "$response", "dependency": "Hard"}]}


def top1(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """`moe-top1`: the gate, then the one expert it chose; when the gate is unsure, its top two combined."""
    switch = expert_switch(specs, "expert")
    unsure = {"name": "unsure", "nodeName": "top2-combined", "condition": UNSURE}
    combined = {"routerType": "Sequence", "steps": [{"name": "experts", "nodeName": "top2-experts",
                "dependency": "Hard"}, COMBINE]}  # fmt: skip
    nodes = {
        "root": _gate_then({"name": "expert", "nodeName": "top1-expert"}),
        "top1-expert": {**switch, "steps": [unsure, *switch["steps"]]},
        "top2-combined": combined,
        **top2_nodes(specs),
    }
    return graph("moe-top1", nodes, CALL_S, REQUEST_S)


def top2(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """`moe-top2`: the gate, its first and second choices in parallel, then the combiner."""
    root = _gate_then({"name": "experts", "nodeName": "top2-experts"})
    root["steps"].append(dict(COMBINE))
    return graph("moe-top2", {"root": root, **top2_nodes(specs)}, CALL_S, REQUEST_S)


def top2_nodes(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """The Ensemble `top2-experts` of the gate's first (Hard) and second (Soft) choices, and their Switches."""
    ensemble = {
        "routerType": "Ensemble",
        "steps": [
            {"name": "first", "nodeName": "first-choice", "dependency": "Hard"},
            {"name": "second", "nodeName": "second-choice", "dependency": "Soft"},
        ],
    }
    return {
        "top2-experts": ensemble,
        "first-choice": expert_switch(specs, "experts.0"),
        "second-choice": expert_switch(specs, "experts.1"),
    }


def choice(specs: Sequence[ExpertSpec], rank: int) -> dict[str, Any]:
    """`moe-first-choice` / `moe-second-choice`: the gate's choice of that rank, bounded by CHOICE_CALL_S."""
    name = ("moe-first-choice", "moe-second-choice")[rank]
    nodes = {"root": expert_switch(specs, f"experts.{rank}", default=generalist(specs))}
    return graph(name, nodes, CHOICE_CALL_S, REQUEST_S)


def fallback(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """`moe-top1-fallback`: the first choice; on an error answer the second; then the generalist."""
    steps = [
        {"name": "first-choice", "serviceUrl": graph_url("moe-first-choice"), "dependency": "Soft"},
        {"name": "second-choice", "serviceUrl": graph_url("moe-second-choice"), "condition": "error",
         "dependency": "Soft"},
        {"name": "generalist", "serviceName": f"expert-{generalist(specs)}", "condition": "error",
         "dependency": "Hard"},
    ]  # fmt: skip
    nodes = {
        "root": _gate_then({"name": "answer", "nodeName": "expert-with-fallback"}),
        "expert-with-fallback": {"routerType": "Sequence", "steps": steps},
    }
    return graph("moe-top1-fallback", nodes, CALL_S, REQUEST_S)


def rag(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """`moe-rag`: the gate, its expert, the retriever, then the generator."""
    root = _gate_then({"name": "expert", "nodeName": "top1-expert"})
    for step in ("retriever", "generator"):
        root["steps"].append({"name": step, "serviceName": step, "data": "$response", "dependency": "Hard"})
    nodes = {"root": root, "top1-expert": expert_switch(specs, "expert")}
    return graph("moe-rag", nodes, RAG_CALL_S, RAG_REQUEST_S)


def media_node(after_image: Sequence[str] = ()) -> dict[str, Any]:
    """The multimodal graphs' first node: the `modality` step on the client's body as sent; for an image,
    the image expert on that same body (the step's default data), then the services `after_image`."""
    steps = [
        {"name": "modality", "serviceName": MODALITY, "dependency": "Hard"},
        {"name": "image", "serviceName": IMAGE_EXPERT, "condition": IMAGE_CONDITION, "dependency": "Hard"},
        *({"name": s, "serviceName": s, "data": "$response", "dependency": "Hard"} for s in after_image),
    ]
    return {"routerType": "Sequence", "steps": steps}


def with_media(text_graph: dict[str, Any], name: str, after_image: Sequence[str] = ()) -> dict[str, Any]:
    """`text_graph` behind the media node: its root's steps run only on the text (or transcript) that the
    modality step passes on; an image's answer is the media node's."""
    nodes = dict(text_graph["spec"]["nodes"])
    first, *rest = nodes["root"]["steps"]
    media = {"name": "media", "nodeName": "media", "dependency": "Hard"}
    text = {**first, "data": "$response", "condition": TEXT_CONDITION}
    nodes["root"] = {"routerType": "Sequence", "steps": [media, text, *rest]}
    call_s = max(MEDIA_CALL_S, text_graph["spec"]["routerTimeouts"]["serviceClient"])
    return graph(name, {**nodes, "media": media_node(after_image)}, call_s, text_graph["spec"]["timeout"])


def multimodal(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """`moe-multimodal`: text, speech or an image; speech's transcript and text take the top-1 graph."""
    return with_media(top1(specs), "moe-multimodal")


def rag_multimodal(specs: Sequence[ExpertSpec]) -> dict[str, Any]:
    """`moe-rag-multimodal`: the RAG graph for text, speech or an image (searched by its top synset's words)."""
    return with_media(rag(specs), "moe-rag-multimodal", after_image=("retriever", "generator"))


def graph_url(name: str) -> str:
    """How one graph calls another in the same namespace: its Service (KServe names it after the graph)."""
    return f"http://{name}"


def generalist(specs: Sequence[ExpertSpec]) -> str:
    """The generalist's route name.

    Raises:
        ConfigError: the registry has no expert for GENERALIST's domain.
    """
    routes = [route_name(spec.domain) for spec in specs]
    if GENERALIST not in routes:
        raise ConfigError(
            f"The fallback graphs answer with the generalist {GENERALIST!r}, which the registry lacks "
            f"(experts {routes}); keep it in EXPERTS or change GENERALIST in aiprime/deploy/graphs.py."
        )
    return GENERALIST
