"""Where a process's spans go: the one place that turns settings into span exporters.

- Over OTLP/HTTP to `Settings.otlp_endpoint`, with `Settings.otlp_headers`: an OpenTelemetry Collector on a
  cluster (`kustomize/observability/otel-collector/`), or an MLflow server's `/v1/traces`, which stores the
  spans in its SQL backend as traces of the experiment that the `x-mlflow-experiment-id` header names.
- To a JSON-lines file, when the process is given one (`--trace_file`): what `aiprime trace` reads when MLflow
  is not there, and what tests read.

Each process only exports where it is told; nothing here starts a server. `mlflow_target` is for the edges
that start processes (`aiprime serve --trace`): it finds the MLflow server the platform already runs and the
traces experiment on it, and `otlp_environment` passes that on to the processes they start.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from aiprime.errors import ConfigError
from aiprime.settings import Settings

OTLP_TRACES_PATH = "/v1/traces"
MLFLOW_EXPERIMENT_HEADER = "x-mlflow-experiment-id"  # MLflow answers 422 to an OTLP export without it
EXPORT_TIMEOUT_S = 5.0  # one export's limit: the batch thread, not a request, waits for it
_MLFLOW_TIMEOUT_S = 5.0


def span_exporters(settings: Settings | None, trace_file: Path | None) -> list[SpanExporter]:
    """The exporters of a process: OTLP when `settings` name an endpoint, the JSON-lines file when given."""
    exporters: list[SpanExporter] = []
    if settings is not None and settings.otlp_endpoint:
        exporters.append(otlp_exporter(settings.otlp_endpoint, parse_headers(settings.otlp_headers)))
    if trace_file is not None:
        exporters.append(JsonLinesExporter(trace_file))
    return exporters


class JsonLinesExporter(SpanExporter):
    """Appends each finished span to a file as one line of JSON."""

    def __init__(self, path: Path) -> None:
        """Write to `path` (its folder is created)."""
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append `spans`."""
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with self._lock, self._path.open("a") as f:
            f.write(lines)
        return SpanExportResult.SUCCESS


def otlp_exporter(endpoint: str, headers: dict[str, str]) -> SpanExporter:
    """An OTLP/HTTP (protobuf) exporter of spans to `endpoint`, a full URL ending in `/v1/traces`."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=EXPORT_TIMEOUT_S)


def parse_headers(text: str) -> dict[str, str]:
    """`name=value` pairs joined by commas (AIPRIME_OTLP_HEADERS) as a dict.

    Raises:
        ConfigError: a pair has no `=`.
    """
    headers = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(
                f"AIPRIME_OTLP_HEADERS has {pair!r}, which is not name=value; "
                "write pairs like x-mlflow-experiment-id=1,authorization=Bearer%20T joined by commas."
            )
        headers[name.strip().lower()] = value.strip()
    return headers


def mlflow_target(settings: Settings) -> Settings:
    """`settings` with the OTLP endpoint filled in: the MLflow server's `/v1/traces` and its traces experiment.

    Settings that name an endpoint already, or an MLflow server that does not answer, come back unchanged
    (the processes then write their spans files only). The experiment `settings.traces_experiment` is created
    when missing.
    """
    if settings.otlp_endpoint:
        return settings
    try:
        experiment = experiment_id(settings.mlflow_url, settings.traces_experiment, create=True)
    except httpx.HTTPError:
        return settings
    return settings.model_copy(
        update={
            "otlp_endpoint": settings.mlflow_url.rstrip("/") + OTLP_TRACES_PATH,
            "otlp_headers": f"{MLFLOW_EXPERIMENT_HEADER}={experiment}",
        }
    )


def otlp_environment(settings: Settings) -> dict[str, str]:
    """The environment that points a started process at `settings`' OTLP endpoint (empty without one)."""
    if not settings.otlp_endpoint:
        return {}
    return {"AIPRIME_OTLP_ENDPOINT": settings.otlp_endpoint, "AIPRIME_OTLP_HEADERS": settings.otlp_headers}


def experiment_id(mlflow_url: str, name: str, create: bool = False) -> str | None:
    """The id of MLflow's experiment `name` (through MLflow's REST API); when missing, None or, with `create`,
    a new one's.

    Raises:
        httpx.HTTPError: MLflow did not answer, or refused.
    """
    api = f"{mlflow_url.rstrip('/')}/api/2.0/mlflow/experiments"
    with httpx.Client(timeout=_MLFLOW_TIMEOUT_S) as client:
        found = client.get(f"{api}/get-by-name", params={"experiment_name": name})
        if found.status_code == 404:
            if not create:
                return None
            created = client.post(f"{api}/create", json={"name": name})
            created.raise_for_status()
            return created.json()["experiment_id"]
        found.raise_for_status()
        return found.json()["experiment"]["experiment_id"]
