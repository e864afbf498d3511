"""Forwarding to the services behind the gateway, with the request id and the W3C trace context.

Each call is a `POST` of the validated JSON body to the configured URL, with `X-Request-Id`, the caller's
principal (`X-Aiprime-Principal`; the caller's own credential never travels on) and the trace context of
the gateway's client span, with the caller's baggage. A 2xx answer is returned as it is; an error status
becomes the gateway's error shape with the same status, except that an upstream's 401/403 (it refused the
gateway) becomes a 502. `served_by` reads what a JSON answer says served it, for the audit entry.
"""

from __future__ import annotations

import json
import time

import httpx
from opentelemetry import trace
from starlette.responses import Response

from aiprime.errors import BadGateway, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from aiprime.gateway.config import GatewaySettings
from aiprime.gateway.telemetry import GatewayMetrics
from aiprime.observability import tracing

#: What the graph's records say served them (`kserve/graphs/README.md`): the registered model versions
#: (NAME@VERSION) and the stored chunks retrieved. The audit entry keeps them: `aiprime lineage` reads them.
SERVED_KEYS = {"model_versions": str, "chunk_ids": int}
MAX_SERVED = 256  # values kept per key: an answer names a few versions and at most 200 chunks (MAX_K)
MAX_VERSION_CHARS = 200


class Upstreams:
    """The configured upstream URLs and the pooled client that calls them."""

    def __init__(
        self,
        settings: GatewaySettings,
        client: httpx.AsyncClient,
        metrics: GatewayMetrics,
        tracer: trace.Tracer,
    ) -> None:
        """Args: client is owned by the app's lifespan."""
        self.settings, self.client, self.metrics, self.tracer = settings, client, metrics, tracer

    async def forward(
        self, name: str, body: bytes, request_id: str, principal: str, content: dict[str, str] | None = None
    ) -> Response:
        """POST `body` to the upstream `name` and return its answer (errors raise, see the module doc);
        `content` replaces the JSON content type with the headers that say how to read a binary body."""
        url = self.settings.upstream_url(name)
        if not url:
            raise UpstreamUnavailable(
                f"The {name} service is not configured on this gateway; set "
                f"AIPRIME_GATEWAY_{name.upper()}_URL to its URL."
            )
        headers = {
            "content-type": "application/json",
            "x-request-id": request_id,
            "x-aiprime-principal": principal,
        } | (content or {})
        start, outcome = time.perf_counter(), "error"
        with self.tracer.start_as_current_span(
            f"POST {name}", kind=trace.SpanKind.CLIENT, attributes={"url.full": url, "aiprime.upstream": name}
        ) as span:
            tracing.inject(headers)
            try:
                answer = await self._post(name, url, body, headers)
                span.set_attribute("http.response.status_code", answer.status_code)
                outcome = "ok" if answer.status_code < 400 else "error"
            except UpstreamTimeout:
                outcome = "timeout"
                raise
            finally:
                self.metrics.upstream_duration.labels(name, outcome).observe(time.perf_counter() - start)
        return _relay(name, answer)

    async def _post(self, name: str, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        timeout = self.settings.upstream_timeout_s
        try:
            return await self.client.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as e:
            raise UpstreamTimeout(
                f"The {name} service at {url} did not answer within {timeout:g} s; retry later, "
                "or raise AIPRIME_GATEWAY_UPSTREAM_TIMEOUT_S."
            ) from e
        except httpx.ConnectError as e:
            raise UpstreamUnavailable(
                f"The {name} service at {url} cannot be reached ({e}); check that it runs "
                f"and that AIPRIME_GATEWAY_{name.upper()}_URL points at it."
            ) from e
        except httpx.HTTPError as e:
            raise BadGateway(
                f"The {name} service at {url} broke the exchange ({type(e).__name__}: {e})."
            ) from e


def _relay(name: str, answer: httpx.Response) -> Response:
    if answer.status_code < 400:
        return Response(
            answer.content,
            answer.status_code,
            media_type=answer.headers.get("content-type", "application/json"),
        )
    detail = _error_text(answer)
    if answer.status_code in (401, 403, 407):
        raise BadGateway(
            f"The {name} service refused the gateway's call ({answer.status_code}: {detail}); "
            "check the credentials the gateway uses for it."
        )
    raise UpstreamError(f"The {name} service answered {answer.status_code}: {detail}", answer.status_code)


def _error_text(answer: httpx.Response) -> str:
    """The upstream's own message: KServe's `{"error", "cause"}`, our error shape, or the text itself."""
    try:
        document = answer.json()
    except ValueError:
        return answer.text[:300] or "(empty body)"
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))[:300]
        return "; ".join(str(document[k]) for k in ("error", "cause", "detail") if k in document)[:300] or "?"
    return json.dumps(document)[:300]


def served_by(answer: Response) -> dict[str, list]:
    """What the records of a JSON answer (`{"predictions": [...]}`) say served them: each of `SERVED_KEYS`
    that some record names, its values in order without repeats; empty for any other answer."""
    try:
        records = json.loads(answer.body).get("predictions") if "json" in (answer.media_type or "") else None
    except (ValueError, AttributeError):
        return {}
    if not isinstance(records, list):
        return {}
    found = {}
    for key, kind in SERVED_KEYS.items():
        named = [r[key] for r in records if isinstance(r, dict) and isinstance(r.get(key), list)]
        values = [v for values in named for v in values if isinstance(v, kind) and not isinstance(v, bool)]
        if values:
            found[key] = [v[:MAX_VERSION_CHARS] if isinstance(v, str) else v for v in dict.fromkeys(values)]
    return {key: values[:MAX_SERVED] for key, values in found.items()}
