"""Calls from the router to model servers, as KServe's router makes them (`callService` in main.go).

Each call is a `POST` of the step's request body to the target URL, carrying the incoming headers whose
canonical name matches a propagation pattern, `Content-Type: application/json` unless one was propagated,
and (beyond KServe) the step span's trace context and baggage (`aiprime.observability.tracing.inject`).
A transport failure is an error that fails the whole graph with 500; an HTTP answer of any status is
returned as it is.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiohttp

from aiprime.observability import tracing
from aiprime.serving.graph.resilience import HealthBook, RetryPolicy
from aiprime.serving.graph.telemetry import RouterMetrics

Headers = Sequence[tuple[str, str]]
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Go's client writes these itself and ignores them in Request.Header; hop-by-hop ones must not travel either.
_NOT_FORWARDED = frozenset(
    {"Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Keep-Alive", "Upgrade", "Te"}
)


@dataclass(frozen=True)
class Reply:
    """What a step or node produced: KServe's `([]byte, int, error)` triple."""

    body: bytes | None  # the answer's body (None with an error)
    status: int  # the HTTP status; 500 with a transport error, 404 when no Switch route matched
    error: str | None = (
        None  # set when the graph failed (Go's `err != nil`): the router answers an error JSON
    )

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx and there was no error (KServe's `isSuccessFul`)."""
        return self.error is None and 200 <= self.status <= 299


def canonical_header(name: str) -> str:
    """A header name as Go's `http.CanonicalHeaderKey` writes it (`x-request-id` -> `X-Request-Id`)."""
    if not _TOKEN.fullmatch(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def propagated_headers(
    incoming: Iterable[tuple[str, str]], patterns: Sequence[re.Pattern[str]]
) -> list[tuple[str, str]]:
    """The incoming headers KServe's router forwards: canonical name matched (`re.search`) by some pattern.

    Args:
        incoming: (name, value) pairs as received, repeated names kept.
        patterns: compiled `PROPAGATE_HEADERS` patterns; none means nothing is forwarded.
    """
    if not patterns:
        return []
    forwarded = []
    for name, value in incoming:
        canonical = canonical_header(name)
        if canonical not in _NOT_FORWARDED and any(p.search(canonical) for p in patterns):
            forwarded.append((canonical, value))
    return forwarded


class Upstream:
    """Posts step requests through one pooled `aiohttp.ClientSession`, with optional retries and health data."""

    def __init__(
        self,
        client: aiohttp.ClientSession,
        metrics: RouterMetrics,
        *,
        timeout_s: float | None,
        unreachable_as_503: bool,
        health: HealthBook | None,
        rng: random.Random,
    ) -> None:
        """Create the caller.

        Args:
            client: the pooled client.
            metrics: where retries are counted.
            timeout_s: each attempt's limit (connect, read, write and pool); None waits without limit.
            unreachable_as_503: answer a refused `serviceName` connection with a JSON 503.
            health: per-target bookkeeping for avoidance, or None when avoidance is off.
            rng: the source of retry jitter.
        """
        self._client = client
        self._metrics = metrics
        self.timeout_s = timeout_s
        # aiohttp rounds limits above ceil_threshold up to a whole second of loop time (up to 1 s late);
        # KServe's Go client times out exactly, so nothing is rounded.
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, ceil_threshold=math.inf)
        self._unreachable_as_503 = unreachable_as_503
        self._health = health
        self._rng = rng

    async def call(
        self, url: str, body: bytes, headers: Headers, *, label: tuple[str, str], retry: RetryPolicy | None,
        via_gateway: bool,
    ) -> Reply:  # fmt: skip
        """POST `body` to `url` and return the answer, retrying as `retry` allows.

        Args:
            url: the target.
            body: the request body, sent as it is.
            headers: the propagated headers; the content type and the trace context are added here.
            label: (node, step) for metrics.
            retry: the retry policy when the step is idempotent, else None.
            via_gateway: the URL came from a `serviceName` (on a cluster, an ingress gateway fronts it).
        """
        outgoing = _outgoing_headers(headers)
        attempt = 0
        while True:
            reply = await self._attempt(url, body, outgoing, via_gateway)
            if retry is None or attempt >= retry.max_retries or not _retryable(reply):
                return reply
            self._metrics.retries.labels(*label).inc()
            await asyncio.sleep(retry.delay_s(attempt, self._rng))
            attempt += 1

    async def _attempt(
        self, url: str, body: bytes, headers: list[tuple[str, str]], via_gateway: bool
    ) -> Reply:
        if self._health is not None:
            self._health.started(url)
        reply = await self._post(url, body, headers, via_gateway)
        if self._health is not None:
            self._health.finished(url, ok=not _retryable(reply))
        return reply

    async def _post(self, url: str, body: bytes, headers: list[tuple[str, str]], via_gateway: bool) -> Reply:
        try:
            async with self._client.post(url, data=body, headers=headers, timeout=self._timeout) as answer:
                return Reply(await answer.read(), answer.status)
        except aiohttp.ClientConnectorError as e:
            if via_gateway and self._unreachable_as_503:
                return _unreachable(url, e)
            return Reply(None, 500, f"Post {url!r}: {e!r}")
        except TimeoutError as e:  # aiohttp's timeouts are TimeoutError subclasses
            return Reply(None, 500, f"Post {url!r}: timeout ({type(e).__name__})")
        except (aiohttp.ClientError, ValueError) as e:  # ValueError: a URL aiohttp cannot parse
            return Reply(None, 500, f"Post {url!r}: {e!r}")


def _outgoing_headers(headers: Headers) -> list[tuple[str, str]]:
    carrier: dict[str, str] = {}
    tracing.inject(carrier)
    # The step span's context replaces a propagated one; without an active span the propagated one stays.
    outgoing = [(n, v) for n, v in headers if n.lower() not in carrier]
    if not any(name.lower() == "content-type" for name, _ in outgoing):
        outgoing.append(("Content-Type", "application/json"))
    outgoing.extend(carrier.items())
    return outgoing


def _retryable(reply: Reply) -> bool:
    return reply.error is not None or reply.status >= 500


def _unreachable(url: str, error: Exception) -> Reply:
    """The JSON 503 a cluster's gateway stands for when no replica of a service answers."""
    body = {"error": "Service Unavailable", "cause": f"no healthy upstream for {url}: {error!r}"}
    return Reply(json.dumps(body).encode(), 503)
