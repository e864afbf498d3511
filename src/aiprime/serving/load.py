"""Load-aware routing for the gate: pass over experts that are not ready or full. Off by default.

With it on (`--load_aware` on the gate), a background thread polls every expert named in the services
mapping, every `interval_s`:
- `GET <origin>/v2/models/<model>/ready` (KServe's model readiness: 200 when ready);
- `GET <origin>/metrics` for `aiprime_model_in_flight_requests` and `aiprime_model_max_in_flight` of that
  model. An expert counts as full at the tighter of its own `--max_in_flight` (past which it answers 503)
  and the gate's `--expert_capacity` (which can keep headroom below that); 0 means no limit.

The gate then ranks the available experts first, in descending probability, and the unavailable ones after
them (also in descending probability), so a graph's Switch on `expert` or `experts.0` sends the request to
the best expert that can take it, and the shipped graphs stay unchanged. If every expert is unavailable the
ranking is left as the probabilities order it. Off, the gate is a pure function of its input, as on a
cluster where the graph's router (not the gate) sees the load.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aiprime.errors import ConfigError
from aiprime.serving.metrics import IN_FLIGHT, MAX_IN_FLIGHT

_PREDICT_URL = re.compile(r"/v1/models/(?P<model>[^/:]+):predict$")


@dataclass(frozen=True)
class Endpoint:
    """Where an expert's readiness and metrics are read."""

    origin: str  # scheme://host:port
    model: str  # the KServe model name


@dataclass(frozen=True)
class ExpertLoad:
    """What the last poll of one expert saw."""

    ready: bool  # model readiness answered 200
    in_flight: float  # requests it held
    capacity: float  # its declared --max_in_flight (0: none)


def endpoints(services: Mapping[str, str], prefix: str = "expert-") -> dict[str, Endpoint]:
    """The experts of a services mapping (`expert-<route>: <predict URL>`), keyed by route name.

    Raises:
        ConfigError: an expert's URL is not a v1 predict URL.
    """
    found = {}
    for name, url in services.items():
        if not name.startswith(prefix):
            continue
        parts, match = urlsplit(url), _PREDICT_URL.search(urlsplit(url).path)
        if match is None:
            raise ConfigError(
                f"Service {name!r} maps to {url!r}; expected http://host:port/v1/models/<model>:predict."
            )
        found[name.removeprefix(prefix)] = Endpoint(f"{parts.scheme}://{parts.netloc}", match["model"])
    return found


def read_load(client: httpx.Client, endpoint: Endpoint) -> ExpertLoad:
    """Poll one expert; an expert that does not answer is not ready."""
    try:
        ready = client.get(f"{endpoint.origin}/v2/models/{endpoint.model}/ready").status_code == 200
        text = client.get(f"{endpoint.origin}/metrics").text
    except httpx.HTTPError:
        return ExpertLoad(False, 0.0, 0.0)
    values = {IN_FLIGHT: 0.0, MAX_IN_FLIGHT: 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in values and sample.labels.get("model") == endpoint.model:
                values[sample.name] = sample.value
    return ExpertLoad(ready, values[IN_FLIGHT], values[MAX_IN_FLIGHT])


class LoadWatcher:
    """Polls the experts' readiness and in-flight counts in a daemon thread."""

    def __init__(
        self,
        experts: Mapping[str, Endpoint],
        *,
        interval_s: float = 0.5,
        timeout_s: float = 0.5,
        capacity: int = 0,
    ) -> None:
        """Watch `experts` (route name -> endpoint).

        Args:
            experts: what to poll.
            interval_s: seconds between polls.
            timeout_s: limit of each HTTP call.
            capacity: in-flight requests at which an expert counts as full, if tighter than its own limit
                (0: only its own limit).
        """
        self._experts = dict(experts)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._capacity = capacity
        self._loads: dict[str, ExpertLoad] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-watcher", daemon=True)

    def start(self) -> LoadWatcher:
        """Poll once now, then every `interval_s` in the background."""
        with httpx.Client(timeout=self._timeout_s) as client:
            self.poll(client)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()

    def poll(self, client: httpx.Client) -> None:
        """Read every expert's load once."""
        self._loads = {name: read_load(client, endpoint) for name, endpoint in self._experts.items()}

    def avoid(self, expert: str) -> str | None:
        """Why `expert` should not get a request now (`not_ready`, `saturated`), or None."""
        load = self._loads.get(expert)
        if load is None:
            return None  # not watched: nothing known against it
        if not load.ready:
            return "not_ready"
        limits = [c for c in (load.capacity, self._capacity) if c > 0]  # the tighter of the two counts
        return "saturated" if limits and load.in_flight >= min(limits) else None

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s) as client:
            while not self._stop.wait(self._interval_s):
                self.poll(client)


def rerank(
    experts: Sequence[str], probabilities: Sequence[float], avoid: Callable[[str], str | None]
) -> tuple[list[str], list[float], dict[str, str]]:
    """Available experts first, then the avoided ones, each part in the given (descending) order.

    Returns:
        The experts, their probabilities in the new order, and the avoided experts with the reason.
    """
    reasons = {e: r for e in experts if (r := avoid(e)) is not None}
    if len(reasons) == len(experts):
        return list(experts), list(probabilities), reasons  # nothing better to offer
    order = sorted(range(len(experts)), key=lambda i: experts[i] in reasons)  # stable: keeps descending order
    return [experts[i] for i in order], [probabilities[i] for i in order], reasons
