"""What the console's Models view shows: champions and challengers with their metrics, and the drift check.

Versions come from MLflow (`aiprime.registry`): each registered model's versions that carry the aliases
`champion` or `challenger`, with the metrics of the run that trained them and the tags that lineage follows.
The drift status is the last check's metrics file (`<AIPRIME_HOME>/metrics/drift.prom`, written by Dagster's
`traffic_drift`). Neither is ever guessed: what is not stored is said to be unavailable, and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from prometheus_client.parser import text_string_to_metric_families

from aiprime.errors import ServiceUnavailable
from aiprime.registry.mlflow_registry import CHALLENGER, CHAMPION, registered_name

PROBE_TIMEOUT_S = 3.0  # MLflow's client retries an unreachable server for minutes; the page asks first
LINEAGE_TAGS = ("data_version", "code_version", "pipeline_run_id", "promotion")


@dataclass(frozen=True)
class ModelVersionEntry:
    """One champion or challenger version of a registered model."""

    name: str  # the registered model, e.g. aiprime-gate
    version: str
    aliases: list[str]  # champion, challenger or both
    metrics: dict[str, float]  # the training run's metrics (test and validation scores)
    tags: dict[str, str]  # the tags lineage follows: data_version, code_version, pipeline_run_id, promotion
    run_id: str | None


@dataclass(frozen=True)
class DriftStatus:
    """The last drift check of the gate's traffic, or why there is none."""

    checked: bool
    drifted: bool | None = None
    p_values: dict[str, float] = field(default_factory=dict)  # by test: mmd, routing
    requests: int | None = None  # logged requests compared
    last_run: float | None = None  # Unix time of the check
    message: str = ""


def champions_and_challengers(tracking_uri: str) -> list[ModelVersionEntry]:
    """Every `aiprime-*` registered model's champion and challenger versions, by name.

    Raises:
        ServiceUnavailable: MLflow does not answer at `tracking_uri`.
    """
    probe(tracking_uri)
    client = MlflowClient(tracking_uri)
    try:
        models = client.search_registered_models(f"name LIKE '{registered_name('')}%'")
        return [
            _entry(client, model.name, version, sorted(a for a, v in model.aliases.items() if v == version))
            for model in sorted(models, key=lambda m: m.name)
            for version in sorted({v for a, v in model.aliases.items() if a in (CHAMPION, CHALLENGER)})
        ]
    except MlflowException as e:
        raise ServiceUnavailable(f"MLflow at {tracking_uri} failed to list the models: {e.message}") from e


def _entry(client: MlflowClient, name: str, version: str, aliases: list[str]) -> ModelVersionEntry:
    found = client.get_model_version(name, version)
    metrics: dict[str, float] = {}
    if found.run_id:
        try:
            metrics = dict(client.get_run(found.run_id).data.metrics)
        except MlflowException:
            pass  # the run was deleted: the lineage link says so
    tags = {k: v for k, v in found.tags.items() if k in LINEAGE_TAGS}
    return ModelVersionEntry(name, str(found.version), aliases, metrics, tags, found.run_id)


def probe(tracking_uri: str) -> None:
    """Raise ServiceUnavailable unless the MLflow server answers within PROBE_TIMEOUT_S."""
    if not tracking_uri.startswith(("http://", "https://")):
        return  # a local store: nothing to reach
    try:
        httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S).raise_for_status()
    except httpx.HTTPError as e:
        raise ServiceUnavailable(
            f"MLflow does not answer at {tracking_uri} ({type(e).__name__}); start it with "
            "`aiprime services up`, or set AIPRIME_MLFLOW_TRACKING_URI to the server."
        ) from e


def drift_status(metrics_dir: Path) -> DriftStatus:
    """The last drift check, from `<metrics_dir>/drift.prom`."""
    path = metrics_dir / "drift.prom"
    if not path.is_file():
        return DriftStatus(
            False, message="No drift check has run yet; Dagster's hourly_drift_check schedule runs it."
        )
    try:
        samples = {
            (s.name, s.labels.get("test")): s.value
            for family in text_string_to_metric_families(path.read_text())
            for s in family.samples
        }
    except ValueError:
        return DriftStatus(False, message=f"{path} is not Prometheus text; the next drift check rewrites it.")
    return DriftStatus(
        True,
        drifted=bool(samples.get(("aiprime_drift_detected", None))),
        p_values={test: v for (name, test), v in samples.items() if name == "aiprime_drift_p_value"},
        requests=int(samples.get(("aiprime_drift_window_requests", None), 0)),
        last_run=samples.get(("aiprime_drift_last_run_timestamp_seconds", None)),
    )
