"""Settings of the local InferenceGraph router that are not part of the graph itself."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aiprime.errors import ConfigError
from aiprime.serving.graph.resilience import RouterPolicy

PROPAGATE_HEADERS_ENV = (
    "PROPAGATE_HEADERS"  # the variable KServe's router reads (constants.RouterHeadersPropagateEnvVar)
)


@dataclass(frozen=True)
class RouterConfig:
    """How the router runs a graph; every default matches KServe's router."""

    propagate_headers: tuple[
        str, ...
    ] = ()  # regexes; incoming headers whose canonical name matches are forwarded
    step_timeout_s: float | None = (
        None  # each step call's limit; None: the graph's routerTimeouts.serviceClient
    )
    graph_timeout_s: float | None = None  # the whole request's deadline; None: the graph's spec.timeout
    unreachable_as_503: bool = (
        True  # a refused serviceName connection answers 503, as a cluster's gateway would
    )
    policy: RouterPolicy | None = None  # overrides the graph's aiprime.io/router-policy annotation
    seed: int | None = None  # seeds the Splitter's and the retry jitter's random numbers (tests)
    max_connections: int = 256  # size of the pooled HTTP client
    max_body_bytes: int = 16 << 20  # larger request bodies are answered 413 (KServe's router sets none)
    max_header_bytes: int = 1 << 20  # larger request lines plus headers: 431 (Go's default, as KServe's)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> RouterConfig:
        """A config that reads `PROPAGATE_HEADERS` (comma-separated regexes) as KServe's router does."""
        patterns = tuple(p for p in environ.get(PROPAGATE_HEADERS_ENV, "").split(",") if p)
        return cls(propagate_headers=patterns, **overrides)  # type: ignore[arg-type]

    def header_patterns(self) -> tuple[re.Pattern[str], ...]:
        """The compiled `propagate_headers`.

        Raises:
            ConfigError: a pattern is not a valid regular expression (KServe logs and skips it instead).
        """
        compiled = []
        for pattern in self.propagate_headers:
            try:
                compiled.append(re.compile(pattern))
            except re.error as e:
                raise ConfigError(
                    f"Header pattern {pattern!r} is not a valid regular expression ({e}); fix or remove it."
                ) from e
        return tuple(compiled)
