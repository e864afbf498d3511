"""What every AI Prime model server shares: the base model class, the server, and the common arguments.

`ServingModel` is a `kserve.Model` that, around KServe's own preprocess -> predict/explain -> postprocess,
- continues the caller's W3C trace (the router injects `traceparent`) in its own span;
- counts the requests it holds (`aiprime_model_in_flight_requests`) and answers 503 past `max_in_flight`;
- counts what it turns away or fails (`aiprime_model_dropped_requests_total{reason}`).

`serve` runs KServe's `ModelServer` bound to one interface (KServe binds 0.0.0.0; locally we bind
127.0.0.1) with gRPC off unless asked, and answers every `AIPrimeError` as `{"error": "..."}` with the
error's HTTP status, as KServe answers its own errors (so a graph's `condition: error` sees them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kserve
from fastapi import Request
from fastapi.responses import JSONResponse
from kserve import errors as kserve_errors
from kserve import model_server
from kserve.model import InferenceVerb

from aiprime.errors import AIPrimeError, ConfigError, InvalidInput, ModelNotReady, ServiceUnavailable
from aiprime.observability.logs import bound_request_id, configure_json_logging, request_id_of
from aiprime.observability.tracing import configure_tracing, request_context
from aiprime.serving.metrics import ServerMetrics
from aiprime.serving.tracing import tracer
from aiprime.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)
# Defaults that differ from KServe's; a server's parser applies them with `parser.set_defaults(**DEFAULTS)`
# (a parent parser's set_defaults cannot override another parent's argument).
DEFAULTS = {"enable_grpc": False}  # KServe turns gRPC on, on [::]; these servers speak REST


class ServerOverloaded(ServiceUnavailable):
    """A model server already holds its `--max_in_flight` requests. HTTP servers should return HTTP_503."""


class ServingModel(kserve.Model):
    """A `kserve.Model` with trace continuation, an in-flight limit and request metrics."""

    def __init__(self, name: str, *, max_in_flight: int = 0, metrics: ServerMetrics | None = None) -> None:
        """Create the model (not loaded).

        Args:
            name: the KServe model name (the path segment in `/v1/models/<name>:predict`).
            max_in_flight: requests held at once before answering 503; 0 means no limit.
            metrics: where to count; None registers a fresh set in the default registry (once per process).
        """
        super().__init__(name)
        self.max_in_flight = max_in_flight
        self.metrics = metrics or ServerMetrics()
        self.metrics.max_in_flight.labels(name).set(max_in_flight)
        self.in_flight = 0

    async def __call__(
        self, body: Any, headers: dict[str, str] | None = None, verb: InferenceVerb = InferenceVerb.PREDICT
    ) -> Any:
        """KServe's request path, inside a server span and the in-flight accounting."""
        name = verb.name.lower()
        parent, kind = request_context(headers)
        with (
            bound_request_id(request_id_of(headers)),
            tracer().start_as_current_span(f"{self.name} {name}", context=parent, kind=kind) as span,
        ):
            span.set_attribute("aiprime.model", self.name)
            with self._admitted(name):
                return await super().__call__(body, headers, verb)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound work (torch) in the server's thread pool, keeping the event loop free."""
        return await asyncio.to_thread(fn, *args)  # to_thread copies the context: spans nest

    @contextlib.contextmanager
    def _admitted(self, verb: str) -> Iterator[None]:
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            self._count(verb, "overflow")
            raise ServerOverloaded(
                f"{self.name} already serves {self.in_flight} requests (--max_in_flight {self.max_in_flight}); "
                "retry later, route elsewhere, or raise --max_in_flight."
            )
        self.in_flight += 1
        self.metrics.in_flight.labels(self.name).inc()
        start = time.perf_counter()
        try:
            yield
        except Exception as e:
            self._count(verb, _reason(e))
            self._log_outcome(verb, _reason(e), start)
            raise
        else:
            self.metrics.requests.labels(self.name, verb, "ok").inc()
            self._log_outcome(verb, "ok", start)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.labels(self.name).dec()

    def _log_outcome(self, verb: str, outcome: str, start: float) -> None:
        """One JSON log line per request, in its trace and with its request id (`aiprime logs --request`)."""
        extra = {"model": self.name, "verb": verb, "outcome": outcome}
        extra["duration_ms"] = round((time.perf_counter() - start) * 1e3, 3)
        log.log(
            logging.INFO if outcome == "ok" else logging.WARNING,
            "%s %s: %s",
            self.name,
            verb,
            outcome,
            extra=extra,
        )

    def _count(self, verb: str, reason: str) -> None:
        self.metrics.requests.labels(self.name, verb, reason).inc()
        self.metrics.dropped.labels(self.name, reason).inc()


def _reason(error: Exception) -> str:
    if isinstance(error, InvalidInput | kserve_errors.InvalidInput):
        return "invalid_input"
    if isinstance(error, ModelNotReady | kserve_errors.ModelNotReady):
        return "not_ready"
    return "error"


class LocalModelServer(kserve.ModelServer):
    """KServe's ModelServer, bound to `host`, answering AIPrimeErrors with their own HTTP status."""

    def __init__(self, host: str, **kwargs: Any) -> None:
        """Create the server; `kwargs` are `kserve.ModelServer`'s."""
        if kwargs.get("workers", 1) > 1:
            raise ConfigError(
                "--workers > 1 is not supported by AI Prime's servers; scale with replicas instead."
            )
        super().__init__(**kwargs)
        self.host = host

    def start(self, models: list[kserve.Model]) -> None:
        """Serve `models` until SIGINT/SIGTERM."""
        model_server.app.add_exception_handler(AIPrimeError, _error_response)
        super().start(models)

    def setup_event_loop(self) -> None:
        """Bind the REST server to `host`: ModelServer.start builds it, then calls this before serving."""
        if self._rest_server is not None:
            self._rest_server.config.host = self.host
        super().setup_event_loop()


async def _error_response(_: Request, error: AIPrimeError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error.http_status)


def common_arguments() -> argparse.ArgumentParser:
    """The arguments every AI Prime server adds to `kserve.model_server.parser` (use with `parents=`).

    Apply `DEFAULTS` to the server's own parser too.
    """
    settings = Settings()
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default=settings.host, help="Interface to bind (AIPRIME_HOST).")
    parser.add_argument(
        "--model_dir",
        type=Path,
        default=None,
        help="A folder holding model.pt; when unset, the model comes from MLflow.",
    )
    parser.add_argument("--tracking_uri", default=settings.mlflow_url, help="MLflow server to load from.")
    parser.add_argument("--alias", default="champion", help="Registry alias of the version to serve.")
    parser.add_argument(
        "--max_in_flight",
        type=int,
        default=0,
        help="Requests held at once before answering 503 (0: no limit).",
    )
    parser.add_argument("--torch_threads", type=int, default=1, help="torch intra-op threads per process.")
    parser.add_argument("--trace_file", type=Path, default=None, help="Append spans here as JSON lines.")
    parser.add_argument(
        "--log_dir",
        type=Path,
        default=settings.log_dir,
        help="Write JSON log lines to <log_dir>/<model_name>.jsonl.",
    )
    parser.set_defaults(cache_dir=settings.home / "models")
    return parser


def prepare(args: argparse.Namespace, uses_torch: bool = True) -> None:
    """Set up the process before models load: torch's thread count, JSON logs and the span exporter."""
    if uses_torch:  # the combiner never imports torch
        limit_threads(args.torch_threads)
    configure_json_logging(args.model_name, args.log_dir)
    configure_tracing(args.model_name, args.trace_file, Settings())  # OTLP when AIPRIME_OTLP_ENDPOINT is set


def limit_threads(torch_threads: int) -> None:
    """torch's intra-op threads, and numpy's BLAS pool held to one thread for the process.

    A server's numpy products are small (an image's link: (1, 1000) by (1000, 384)), and a BLAS pool of several
    threads keeps spinning after each one beside torch's threads: with two torch threads on two cores, an
    image's bytes -> vector took p95 163 ms with numpy's default pool and 79 ms with one BLAS thread
    (`OMP_NUM_THREADS=2 python bench/image_retrieval.py --threads 2 --latency-only`, quiet 2-core machine)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(torch_threads)
    threadpool_limits(limits=1, user_api="blas")  # stays in force: only a `with` block restores it


def serve(models: list[kserve.Model], args: argparse.Namespace) -> None:
    """Serve loaded `models` as the parsed arguments say, until SIGINT/SIGTERM."""
    # The loaded models' object graph lives as long as the process: keep the collector off it. Serving gets
    # no GC pauses over it, and exiting does not spend seconds collecting it.
    gc.freeze()
    server = LocalModelServer(
        host=args.host, http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers,
        max_threads=args.max_threads, max_asyncio_workers=args.max_asyncio_workers, enable_grpc=args.enable_grpc,
        enable_docs_url=args.enable_docs_url, enable_latency_logging=args.enable_latency_logging,
        access_log_format=args.access_log_format, event_loop=args.event_loop,
        timeout_keep_alive=args.timeout_keep_alive,
    )  # fmt: skip
    server.start(models)
