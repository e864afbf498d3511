"""Ask the served mixture of experts a question: the route, the answer and why (what `aiprime ask` shows).

The answer comes from the InferenceGraph router, exactly as a client would get it, or (`ask_gateway`) through
the gateway's `POST /v1/ask` as a principal, so that the audit log records who asked and what answered. The
route (the gate's ranking) and the explanations come from the gate's and the expert's own endpoints, named by
the services mapping: a graph answers with the last step's output only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from aiprime.errors import InvalidInput, ServiceUnavailable
from aiprime.observability.logs import REQUEST_ID_HEADER


@dataclass(frozen=True)
class Answer:
    """What the stack answered for one text."""

    text: str  # the question
    experts: list[str]  # the gate's ranking of the experts
    probabilities: list[float]  # the gate's probability of each
    answered_by: list[
        str
    ]  # the expert(s) whose scores make the answer (a fallback may differ from experts[0])
    scores: dict[str, float]  # label -> score of the answer
    gate_explanation: dict[str, Any] | None  # why the gate chose the answering expert
    expert_explanation: dict[str, Any] | None  # why that expert chose its top label
    reply: str | None = None  # the generator's answer, when the graph is the RAG graph
    citations: list[str] = field(default_factory=list)  # the retrieved doc ids the reply cites
    mode: str | None = None  # how the generator answered: generated, extractive or abstained (RAG only)
    request_id: str | None = None  # the X-Request-Id every call carried: `aiprime lineage` takes it

    @property
    def label(self) -> str:
        """The top label of the answer."""
        return max(self.scores, key=self.scores.__getitem__)


def ask(
    text: str, router_url: str, services: Mapping[str, str], explain: bool = True, timeout_s: float = 120.0
) -> Answer:
    """Send `text` through the graph, and ask the gate and the answering expert for their reasons.

    Raises:
        ServiceUnavailable: the router or a server does not answer, or answers an error.
    """
    body, request_id = {"instances": [text]}, uuid.uuid4().hex  # the gate logs its decision under the id
    with httpx.Client(timeout=timeout_s, headers={REQUEST_ID_HEADER: request_id}) as client:
        record = _post(client, router_url, body, "the router")["predictions"][0]
        route = _post(client, _url(services, "gate"), body, "the gate")["predictions"][0]
        answered_by = list(record.get("experts") or [record["expert"]])
        why_gate = why_expert = None
        if explain:
            gate_url = _url(services, "gate").replace(":predict", ":explain")
            expert_url = _url(services, f"expert-{answered_by[0]}").replace(":predict", ":explain")
            why_gate = _post(client, gate_url, {**body, "parameters": {"target": answered_by[0]}}, "the gate")
            why_expert = _post(client, expert_url, body, f"expert {answered_by[0]}")
    return _answer(text, record, route, (_first(why_gate), _first(why_expert)), request_id)


def ask_gateway(
    text: str, gateway_url: str, token: str, services: Mapping[str, str], timeout_s: float = 120.0
) -> Answer:
    """Send `text` to the gateway's `POST /v1/ask` as the principal of `token` (a bearer token allowed to
    `ask`), and ask the gate for its ranking under the same request id. The gateway's audit row of the
    request names that principal and the versions and chunks that answered (`aiprime lineage`).

    Raises:
        ServiceUnavailable: the gateway or the gate does not answer, or answers an error (a refused token
            included: the message quotes the gateway's).
    """
    request_id = uuid.uuid4().hex
    with httpx.Client(timeout=timeout_s, headers={REQUEST_ID_HEADER: request_id}) as client:
        ask_url, auth = f"{gateway_url.rstrip('/')}/v1/ask", {"authorization": f"Bearer {token}"}
        record = _post(client, ask_url, {"question": text}, "the gateway", auth)["predictions"][0]
        route = _post(client, _url(services, "gate"), {"instances": [text]}, "the gate")["predictions"][0]
    return _answer(text, record, route, (None, None), request_id)


def _answer(
    text: str, record: dict[str, Any], route: dict[str, Any], why: tuple[Any, Any], request_id: str
) -> Answer:
    """The Answer of the graph's `record`, the gate's `route` record and the (gate, expert) explanations."""
    answered_by = list(record.get("experts") or [record["expert"]])
    return Answer(
        text, route["experts"], route["probabilities"], answered_by, record["scores"], why[0], why[1],
        record.get("answer"), list(record.get("citations") or []), record.get("mode"), request_id,
    )  # fmt: skip


def _url(services: Mapping[str, str], name: str) -> str:
    if name not in services:
        raise InvalidInput(f"The services mapping has no {name!r}; pass the file `aiprime serve` wrote.")
    return services[name]


def _post(
    client: httpx.Client, url: str, body: dict[str, Any], who: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    try:
        answer = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as e:
        raise ServiceUnavailable(
            f"{who} at {url} does not answer ({e}); start the stack with `aiprime serve`."
        ) from e
    if not answer.is_success:
        raise ServiceUnavailable(f"{who} at {url} answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()


def _first(response: dict[str, Any] | None) -> dict[str, Any] | None:
    return response["explanations"][0] if response else None
