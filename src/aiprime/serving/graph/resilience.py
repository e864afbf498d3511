"""Two behaviours beyond KServe's router, both off unless a graph or the router config turns them on.

- **Retries**: a `serviceName`/`serviceUrl` step listed as idempotent is tried again, at most `maxRetries`
  times, after a transport error or a 5xx answer, waiting an exponentially growing, jittered delay.
  4xx answers are final.
- **Avoidance**: a Switch or Ensemble step with a declared fallback target skips its own target while that
  target is not ready (its `GET /v2/health/ready` probe fails, or its circuit breaker is open) or holds
  `maxInFlight` requests; the step then calls the fallback. The breaker opens after `failureThreshold`
  failures in a row; after `cooldownMs` it lets one trial call through (half-open): a success closes it,
  a failure opens it for another `cooldownMs`.

A graph opts in with the annotation `aiprime.io/router-policy`, whose value is YAML:

```yaml
retry:
  maxRetries: 2            # 0 (default) turns retries off
  initialDelayMs: 50
  maxDelayMs: 1000
  steps: [root/gate]       # "node/step" (step name, or index when unnamed); "*" means every service step
avoidance:
  enabled: true
  probeReady: true         # probe <target origin>/v2/health/ready
  probeIntervalMs: 1000    # how long a probe answer is trusted
  failureThreshold: 3
  cooldownMs: 5000
  maxInFlight: 64          # 0 means no limit
  fallbacks:
    first-choice/living: {nodeName: second-choice}
```

KServe's own router ignores annotations, so on a cluster the same graph runs with neither behaviour; the
`RouterConfig.policy` of the local router overrides the annotation (e.g. to turn both off for a comparison).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

from aiprime.errors import ConfigError
from aiprime.serving.graph.spec import InferenceGraph, Node, RouterType, Step, Target

POLICY_ANNOTATION = "aiprime.io/router-policy"
READY_PATH = "/v2/health/ready"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff for idempotent service steps."""

    max_retries: int = 0  # attempts after the first; 0 turns retries off
    initial_delay_s: float = 0.05  # delay before the first retry
    max_delay_s: float = 1.0  # cap of the doubling delay
    steps: frozenset[str] = frozenset()  # "node/step" keys of idempotent steps; "*" marks every service step

    def covers(self, node: str, step_key: str) -> bool:
        """Whether the step `node/step_key` may be retried."""
        return self.max_retries > 0 and ("*" in self.steps or f"{node}/{step_key}" in self.steps)

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (0-based): half to all of the capped doubling."""
        return min(self.max_delay_s, self.initial_delay_s * 2**attempt) * (0.5 + rng.random() / 2)


@dataclass(frozen=True)
class AvoidancePolicy:
    """Load-aware avoidance of unready or saturated targets in Switch and Ensemble steps."""

    enabled: bool = False  # off unless a graph or the router config turns it on
    probe_ready: bool = True  # probe the target's `/v2/health/ready`
    probe_interval_s: float = 1.0  # a probe answer is trusted this long
    probe_timeout_s: float = 0.5  # a probe slower than this counts as not ready
    failure_threshold: int = 3  # consecutive failures that mark a target down
    cooldown_s: float = 5.0  # how long a target marked down is avoided before it is tried again
    max_in_flight: int = 0  # requests a target may hold before it is avoided; 0 means no limit
    fallbacks: Mapping[str, Target] = field(
        default_factory=lambda: MappingProxyType({})
    )  # "node/step" -> target

    def fallback_for(self, node: str, step_key: str) -> Target | None:
        """The declared fallback of `node/step_key`, or None (also when avoidance is off)."""
        return self.fallbacks.get(f"{node}/{step_key}") if self.enabled else None


@dataclass(frozen=True)
class RouterPolicy:
    """The behaviours beyond KServe that a graph runs with."""

    retry: RetryPolicy = RetryPolicy()  # off by default
    avoidance: AvoidancePolicy = AvoidancePolicy()  # off by default


def policy_for(graph: InferenceGraph, override: RouterPolicy | None = None) -> RouterPolicy:
    """The policy a graph runs with: `override` if given, else its annotation, else everything off.

    Raises:
        ConfigError: the annotation is malformed or names steps the graph does not have.
    """
    if override is not None:
        policy = override
    elif POLICY_ANNOTATION in graph.annotations:
        policy = parse_policy(graph.annotations[POLICY_ANNOTATION], f"graph {graph.name!r}")
    else:
        return RouterPolicy()
    _check_refs(graph, policy)
    return policy


def fallback_service_urls(policy: RouterPolicy, services: Mapping[str, str]) -> dict[str, str]:
    """The URL of every `serviceName` that a fallback target uses.

    Raises:
        ConfigError: a fallback's `serviceName` has no entry in `services`.
    """
    urls = {}
    for ref, target in policy.avoidance.fallbacks.items():
        name = target.service_name
        if name and name not in services:
            raise ConfigError(
                f"The fallback of {ref!r} uses serviceName {name!r}, which the services mapping does not map; "
                f"add '{name}: http://127.0.0.1:<port>/v1/models/{name}:predict' to it."
            )
        if name:
            urls[name] = services[name]
    return urls


def parse_policy(text: str, source: str = "router policy") -> RouterPolicy:
    """Parse the YAML of the `aiprime.io/router-policy` annotation.

    Raises:
        ConfigError: the YAML is malformed or holds unknown keys or wrong types.
    """
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: {POLICY_ANNOTATION} is not valid YAML ({e}).") from e
    where = f"{source}: {POLICY_ANNOTATION}"
    document = _section(document, where, {"retry", "avoidance"})
    return RouterPolicy(
        retry=_retry(_section(document.get("retry", {}), f"{where}.retry", _RETRY_KEYS), where),
        avoidance=_avoidance(
            _section(document.get("avoidance", {}), f"{where}.avoidance", _AVOID_KEYS), where
        ),
    )


_RETRY_KEYS = {"maxRetries", "initialDelayMs", "maxDelayMs", "steps"}
_AVOID_KEYS = {
    "enabled", "probeReady", "probeIntervalMs", "probeTimeoutMs", "failureThreshold", "cooldownMs",
    "maxInFlight", "fallbacks",
}  # fmt: skip


def _section(value: Any, where: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a map, got {value!r}.")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; the keys are {sorted(keys)}.")
    return value


def _number(section: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key} must be a number >= 0, got {value!r}.")
    return value


def _retry(section: Mapping[str, Any], where: str) -> RetryPolicy:
    steps = section.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise ConfigError(f"{where}.retry.steps must be a list of 'node/step' strings, got {steps!r}.")
    return RetryPolicy(
        max_retries=int(_number(section, "maxRetries", 0, f"{where}.retry")),
        initial_delay_s=_number(section, "initialDelayMs", 50, f"{where}.retry") / 1000,
        max_delay_s=_number(section, "maxDelayMs", 1000, f"{where}.retry") / 1000,
        steps=frozenset(steps),
    )


def _avoidance(section: Mapping[str, Any], where: str) -> AvoidancePolicy:
    where += ".avoidance"
    fallbacks = section.get("fallbacks", {})
    if not isinstance(fallbacks, Mapping):
        raise ConfigError(f"{where}.fallbacks must be a map of 'node/step' to a target, got {fallbacks!r}.")
    return AvoidancePolicy(
        enabled=bool(section.get("enabled", False)),
        probe_ready=bool(section.get("probeReady", True)),
        probe_interval_s=_number(section, "probeIntervalMs", 1000, where) / 1000,
        probe_timeout_s=_number(section, "probeTimeoutMs", 500, where) / 1000,
        failure_threshold=max(1, int(_number(section, "failureThreshold", 3, where))),
        cooldown_s=_number(section, "cooldownMs", 5000, where) / 1000,
        max_in_flight=int(_number(section, "maxInFlight", 0, where)),
        fallbacks=MappingProxyType(
            {str(k): _target(v, f"{where}.fallbacks.{k}") for k, v in fallbacks.items()}
        ),
    )


def _target(value: Any, where: str) -> Target:
    value = _section(value, where, {"nodeName", "serviceName", "serviceUrl"})
    target = Target(value.get("nodeName", ""), value.get("serviceName", ""), value.get("serviceUrl", ""))
    if sum(bool(v) for v in (target.node_name, target.service_name, target.service_url)) != 1:
        raise ConfigError(f"{where} must set exactly one of nodeName, serviceName, serviceUrl.")
    return target


def _check_refs(graph: InferenceGraph, policy: RouterPolicy) -> None:
    steps = {f"{node.name}/{step.key}": (node, step) for node, step in graph.steps()}
    for ref in policy.retry.steps - {"*"}:
        node_step = steps.get(ref)
        if node_step is None or node_step[1].target.node_name:
            raise ConfigError(
                f"graph {graph.name!r}: retry step {ref!r} is not a serviceName/serviceUrl step of the "
                f"graph; list steps as 'node/step' from {_service_steps(steps)}."
            )
    for ref, fallback in policy.avoidance.fallbacks.items():
        node_step = steps.get(ref)
        if node_step is None or node_step[0].router_type not in (RouterType.SWITCH, RouterType.ENSEMBLE):
            raise ConfigError(
                f"graph {graph.name!r}: fallback {ref!r} is not a step of a Switch or Ensemble node."
            )
        if node_step[1].target.node_name:
            raise ConfigError(
                f"graph {graph.name!r}: fallback {ref!r} targets a node; only service steps are probed."
            )
        if fallback.node_name and fallback.node_name not in graph.nodes:
            raise ConfigError(
                f"graph {graph.name!r}: fallback of {ref!r} names unknown node {fallback.node_name!r}."
            )


def _service_steps(steps: dict[str, tuple[Node, Step]]) -> list[str]:
    return sorted(key for key, (_, step) in steps.items() if not step.target.node_name)


@dataclass
class _TargetState:
    """What the router knows about one upstream URL."""

    in_flight: int = 0
    failures: int = 0  # consecutive
    opened_at: float | None = None  # when the breaker opened or last let a trial through; None: closed
    probed_at: float | None = None
    probe_ok: bool = True
    probe_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class HealthBook:
    """Tracks in-flight requests, consecutive failures and readiness probes per upstream URL."""

    def __init__(
        self,
        policy: AvoidancePolicy,
        client: aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty book.

        Args:
            policy: thresholds and probe settings.
            client: the pooled client probes are sent with.
            clock: seconds, monotonic (a parameter so tests can move time).
        """
        self._policy = policy
        self._client = client
        self._clock = clock
        self._states: dict[str, _TargetState] = {}

    def _state(self, url: str) -> _TargetState:
        return self._states.setdefault(url, _TargetState())

    def started(self, url: str) -> None:
        """Count a request to `url` as in flight."""
        self._state(url).in_flight += 1

    def finished(self, url: str, ok: bool) -> None:
        """Record the end of a request to `url`; `ok` is False for a transport error or a 5xx answer.

        A success closes the target's breaker. A failure opens it once `failure_threshold` failures are
        consecutive, and re-opens it (restarting the cooldown) whenever it is already open or half-open.
        """
        state = self._state(url)
        state.in_flight -= 1
        state.failures = 0 if ok else state.failures + 1
        if ok:
            state.opened_at = None
        elif state.opened_at is not None or state.failures >= self._policy.failure_threshold:
            state.opened_at = self._clock()

    async def available(self, url: str) -> bool:
        """Whether a step should call `url` now, rather than its fallback.

        A target whose breaker is open is avoided for `cooldown_s`; then it is half-open: one call goes
        through as a trial and the cooldown starts again, so the next trial waits for this one's outcome
        (its success closes the breaker, its failure re-opens it) or for another cooldown.
        """
        state = self._state(url)
        limit = self._policy.max_in_flight
        if limit and state.in_flight >= limit:
            return False
        if self._cooling_down(state):
            return False
        if self._policy.probe_ready and not await self._ready(url, state):
            return False
        return self._admit(state)

    def _admit(self, state: _TargetState) -> bool:
        """Let a call through a closed breaker, or the first one since the cooldown through a half-open one."""
        if state.opened_at is None:
            return True
        if self._cooling_down(state):
            return False  # another caller took the half-open trial while the readiness probe was awaited
        state.opened_at = self._clock()
        return True

    def _cooling_down(self, state: _TargetState) -> bool:
        return state.opened_at is not None and self._clock() - state.opened_at < self._policy.cooldown_s

    async def _ready(self, url: str, state: _TargetState) -> bool:
        async with state.probe_lock:  # one probe at a time per target; the others reuse its answer
            now = self._clock()
            if state.probed_at is None or now - state.probed_at >= self._policy.probe_interval_s:
                state.probe_ok = await self._probe(url)
                state.probed_at = self._clock()
            return state.probe_ok

    async def _probe(self, url: str) -> bool:
        parts = urlsplit(url)
        timeout = aiohttp.ClientTimeout(total=self._policy.probe_timeout_s)
        try:
            async with self._client.get(
                f"{parts.scheme}://{parts.netloc}{READY_PATH}", timeout=timeout
            ) as answer:
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
