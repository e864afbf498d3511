"""What the gate and the experts accept and answer, in KServe's v1 and v2 (Open Inference) protocols.

v1 (what the InferenceGraphs send; the contract is `kserve/graphs/README.md`):
- gate: `{"instances": ["text", {"text": "..."}, ...]}` -> one record for the whole request;
- expert: the gate's response (`predictions`, or `instances` after `mapPredictionsToInstances`) -> one
  record per gate record, carrying its `instances` on; or a plain request like the gate's -> one record
  per instance.
An optional `"parameters"` object carries explanation options (`method`, `target`).
A server that loads a registered version adds it to its record's `model_versions` (NAME@VERSION), after those
of the step before: the RAG graph's answer names the gate's and the expert's, for the gateway's audit log.

v2: a BYTES input tensor `text` of shape [N]; one output row per text (`probabilities` FP32 [N, C] and
the top label, `expert` or `label`, BYTES [N]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse

from aiprime.errors import InvalidInput

TEXT_INPUT = "text"  # the v2 input tensor
MODEL_VERSIONS = "model_versions"  # the registered versions that made a record, carried along the graph
V1_SHAPE = '{"instances": ["a text", {"text": "another"}]}'


@dataclass(frozen=True)
class Group:
    """Texts answered by one record: a v1 request at the gate; a gate record (or one instance) at an expert."""

    texts: tuple[str, ...]  # the inputs
    gate: Mapping[str, Any] | None = None  # the gate's record these came in, when routed by the gate


@dataclass(frozen=True)
class Request:
    """A parsed request, whatever its protocol."""

    groups: tuple[Group, ...]  # what to answer, one record (v1) or one row per text (v2) each
    instances: list = field(default_factory=list)  # the v1 instances as received (the gate echoes them)
    v2: bool = False  # answer an InferResponse
    request_id: str | None = None  # the v2 request id, echoed
    parameters: Mapping[str, Any] = field(default_factory=dict)  # options such as `method`, `target`

    @property
    def texts(self) -> list[str]:
        """Every text, in order."""
        return [text for group in self.groups for text in group.texts]


def text_of(instance: Any) -> str:
    """The text of one v1 instance: a string or `{"text": "..."}`.

    Raises:
        InvalidInput: anything else, or an empty text.
    """
    text = instance.get(TEXT_INPUT) if isinstance(instance, Mapping) else instance
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            f"Each instance must be a non-empty text or {{'text': '...'}}; got {instance!r}. Send {V1_SHAPE}."
        )
    return text


def parse_gate(payload: Mapping[str, Any] | InferRequest) -> Request:
    """The gate's request: v1 instances of text, or a v2 `text` tensor."""
    if isinstance(payload, InferRequest):
        return _parse_v2(payload)
    instances = _instances(payload, "instances")
    texts = tuple(text_of(i) for i in instances)
    return Request((Group(texts),), instances=instances, parameters=_parameters(payload))


def parse_expert(payload: Mapping[str, Any] | InferRequest) -> Request:
    """An expert's request: the gate's response (routed by a graph) or plain text instances (called directly)."""
    if isinstance(payload, InferRequest):
        return _parse_v2(payload)
    key = "predictions" if "predictions" in payload else "instances"
    records = _instances(payload, key)
    if all(isinstance(r, Mapping) and "experts" in r for r in records):
        groups = tuple(Group(tuple(text_of(i) for i in _instances(r, "instances")), r) for r in records)
    else:
        groups = tuple(Group((text_of(i),)) for i in records)
    return Request(groups, instances=records, parameters=_parameters(payload))


def gate_record(
    instances: list,
    experts: Sequence[str],
    probabilities: Sequence[float],
    confident: bool | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The gate's v1 record: the request's instances, the top choice, the ranked choices and their probabilities.

    A calibrated gate also says whether it is `confident`: its first choice's probability reached the threshold
    chosen on val. The graphs do not trust an unsure route (top-2 instead of top-1, no preferred domain).
    A gate loaded from the registry names its `version` (NAME@VERSION) in `model_versions`.
    """
    record = {
        "instances": instances,
        "expert": experts[0],
        "experts": list(experts),
        "probabilities": [round(float(p), 6) for p in probabilities],
    }
    record = record if confident is None else record | {"confident": bool(confident)}
    return with_versions(record, None, version)


def expert_record(
    expert: str,
    probability: float,
    classes: Sequence[str],
    scores: np.ndarray,
    gate: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """An expert's v1 record: its route name, the gate's probability for it, and its class probabilities.

    Routed by the gate (pass its record), the record also carries the gate record's `instances` and
    `confident` on, so that a later step of the graph (the RAG graph's retriever) can read the text and
    knows whether the route is trusted, and its `model_versions`, followed by the expert's own `version`.
    """
    record = {
        "expert": expert,
        "probability": round(float(probability), 6),
        "scores": {label: round(float(score), 6) for label, score in zip(classes, scores, strict=True)},
    }
    carried = (
        {key: gate[key] for key in ("instances", "confident") if key in gate} if gate is not None else {}
    )
    return with_versions(record | carried, gate, version)


def with_versions(
    record: dict[str, Any], before: Mapping[str, Any] | None, version: str | None
) -> dict[str, Any]:
    """`record` with the `model_versions` of the step `before` (its record, if any) and then `version`; the
    key is left out when there are none (servers loading local folders)."""
    carried = before.get(MODEL_VERSIONS) if before is not None else None
    versions = [v for v in carried if isinstance(v, str)] if isinstance(carried, list) else []
    versions += [version] if version else []
    return record | {MODEL_VERSIONS: versions} if versions else record


def gate_probability(record: Mapping[str, Any] | None, expert: str) -> float:
    """The probability the gate gave `expert` in its record (0 when not among its choices; 1 without a gate)."""
    if record is None:
        return 1.0
    experts, probabilities = record.get("experts", []), record.get("probabilities", [])
    return float(probabilities[experts.index(expert)]) if expert in experts else 0.0


def v2_response(model_name: str, request: Request, outputs: Mapping[str, np.ndarray]) -> InferResponse:
    """An InferResponse with one output tensor per entry of `outputs` (FP32 numbers, BYTES strings)."""
    tensors = []
    for name, array in outputs.items():
        datatype = "BYTES" if array.dtype == object else "FP32"
        tensor = InferOutput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(
            array.astype(object if datatype == "BYTES" else np.float32), binary_data=False
        )
        tensors.append(tensor)
    return InferResponse(response_id=request.request_id or "", model_name=model_name, infer_outputs=tensors)


def upstream_records(payload: Any, server: str, shape: str) -> tuple[str, list]:
    """The records a chained server answers: `predictions` (the previous step's response) or `instances`.

    Returns the key they were under and the non-empty list. `server` and `shape` name the server and the
    request to send in the InvalidInput raised for anything else.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"The {server} takes v1 JSON, {shape}; got {type(payload).__name__}.")
    key = "predictions" if "predictions" in payload else "instances"
    records = payload.get(key)
    if not isinstance(records, list) or not records:
        raise InvalidInput(f"Expected a non-empty list under {key!r}; got {payload!r:.200}. Send {shape}.")
    return key, records


def _instances(payload: Any, key: str) -> list:
    value = payload.get(key) if isinstance(payload, Mapping) else None
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"Expected a non-empty list under {key!r}; got {payload!r:.200}. Send {V1_SHAPE}.")
    return value


def _parameters(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise InvalidInput(f"'parameters' must be an object, e.g. {{'method': 'shap'}}; got {parameters!r}.")
    return parameters


def _parse_v2(request: InferRequest) -> Request:
    tensor = request.get_input_by_name(TEXT_INPUT)
    if tensor is None or tensor.datatype != "BYTES":
        names = [i.name for i in request.inputs]
        raise InvalidInput(
            f"v2 requests need a BYTES input named {TEXT_INPUT!r} of shape [N]; got inputs {names}."
        )
    texts = [t.decode() if isinstance(t, bytes) else t for t in np.asarray(tensor.as_numpy()).reshape(-1)]
    groups = tuple(Group((text_of(t),)) for t in texts)
    return Request(groups, v2=True, request_id=request.id, parameters=dict(request.parameters or {}))
