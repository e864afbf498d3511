"""Drift: the traffic check, the retraining it starts, and the weekly retraining that runs regardless.

- `traffic_drift` (group "drift") compares the gate's most recent requests in `request_log` with the training
  reference (`aiprime.drift.reference`): MMD on embeddings, chi-square on routing shares. It writes the
  evidently report to `settings.home/reports/drift-<UTC time>.html` and records the tests as metadata.
  `hourly_drift_check` materialises it.
- `drift_sensor` reacts to `traffic_drift` materialisations rather than testing itself: the test (and its
  report) then runs once, as a visible, logged step, and every retraining it starts points at a report.
  It asks for one `retrain` run per materialisation that found drift, and skips, with the p-values, otherwise.
- `weekly_retrain` runs `retrain` every Monday at 03:00 UTC whatever the traffic.
- `gate_feedback` exports the labels given through `POST /v1/feedback` to the checkout's
  `data/feedback/gate_feedback.parquet` (its md5 recorded in `dataset_versions`); `moe_models` depends on it
  and the `retrain` job materialises both, so every retrain adds the labels to the train split and tags the
  model versions it trains with the feedback's md5.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from aiprime.drift.detect import MIN_SAMPLES
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings

GROUP = "drift"
TRAFFIC_DRIFT = dg.AssetKey("traffic_drift")
GATE_FEEDBACK = dg.AssetKey("gate_feedback")
CHECKED = "checked"  # `status` metadata of a materialisation that ran the tests
NOT_ENOUGH = "not enough traffic"
RETRAIN_CONFIG = {
    "ops": {"moe_models": {"config": {"retrain": True}}}
}  # train afresh, even current champions


class DriftConfig(dg.Config):
    """What the drift check compares."""

    window: int = Field(
        500, ge=MIN_SAMPLES, description="The most recent requests compared with the reference."
    )
    min_requests: int = Field(
        100, ge=MIN_SAMPLES, description="Below this many requests: 'not enough traffic'."
    )
    reference_size: int = Field(1000, ge=MIN_SAMPLES, description="Training rows sampled as the reference.")
    alpha: float = Field(0.01, gt=0, lt=1, description="Family-wise significance level over the two tests.")
    model: str = Field("gate", description="Whose requests to check: request_log.model, the server's name.")
    gate_dir: str | None = Field(
        None,
        description="A folder holding the served gate's model.pt; None: the MLflow champion of aiprime-gate.",
    )
    seed: int = Field(0, description="Seed of the reference sample and of the permutation test.")


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey("classification"), dg.AssetKey("moe_models")],
    kinds={"postgres", "evidently"},
)
def traffic_drift(
    context: dg.AssetExecutionContext, config: DriftConfig, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """Whether the gate's recent traffic has drifted from its training data, with an HTML report."""
    from aiprime.drift.requests import recent_requests

    engine = workspace.app_db()
    try:
        current, routes = recent_requests(engine, config.window, model=config.model)
    finally:
        engine.dispose()
    if len(routes) < config.min_requests:
        context.log.info(
            f"{len(routes)} requests of {config.model!r} logged; the check needs {config.min_requests}"
        )
        return dg.MaterializeResult(
            metadata={
                "status": NOT_ENOUGH,
                "requests": len(routes),
                "min_requests": config.min_requests,
                "drifted": False,
            }
        )
    return _compare(context, config, workspace, current, routes)


def _compare(
    context: dg.AssetExecutionContext,
    config: DriftConfig,
    workspace: dg.ResourceParam[Workspace],
    current: np.ndarray,
    routes: list[str],
) -> dg.MaterializeResult:
    from aiprime.drift.detect import detect_drift
    from aiprime.drift.reference import training_reference
    from aiprime.drift.report import write_report
    from aiprime.serving.served_models import gate_routes

    settings = workspace.settings
    reference = training_reference(
        workspace.root / "data" / "splits" / "classification.parquet",
        settings.home / "embeddings",
        partial(gate_routes, _gate(config, settings)),
        config.reference_size,
        config.seed,
    )
    result = detect_drift(reference.embeddings, current, reference.routes, routes, config.alpha, config.seed)
    path = settings.home / "reports" / f"drift-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.html"
    write_report(result, reference.embeddings, current, reference.routes, routes, path)
    context.log.info(f"drift {'found' if result.drifted else 'not found'}: {result}; report {path}")
    _publish_drift(result.mmd_p_value, result.chi2_p_value, result.drifted, len(routes), settings)
    return dg.MaterializeResult(
        metadata={
            "status": CHECKED,
            "requests": len(routes),
            "window": config.window,
            **result.as_metadata(),
            "report": dg.MetadataValue.path(str(path)),
            "reference_data_version": reference.data_version,
            "route_shares": dg.MetadataValue.json(
                {"reference": route_shares(reference.routes), "current": route_shares(routes)}
            ),
        }
    )


@dg.asset(group_name=GROUP, kinds={"postgres", "parquet"})
def gate_feedback(workspace: dg.ResourceParam[Workspace]) -> dg.MaterializeResult:
    """The labels people gave through the gateway, as the versioned file the next training run adds."""
    from aiprime.drift.feedback import export

    engine = workspace.app_db()
    try:
        version = export(engine, workspace.root)
    finally:
        engine.dispose()
    return dg.MaterializeResult(
        metadata={"rows": version.rows, "md5": version.md5, "path": dg.MetadataValue.path(str(version.path))},
        data_version=dg.DataVersion(version.md5),
    )


def _publish_drift(mmd_p: float, routing_p: float, drifted: bool, requests: int, settings: Settings) -> None:
    """The check's outcome as Prometheus metrics (the drift dashboard and alerts read them)."""
    from aiprime.observability.jobmetrics import DriftMetrics, publish

    metrics = DriftMetrics()
    metrics.record(mmd_p, routing_p, drifted, requests)
    publish(metrics.registry, "drift", settings.home / "metrics", settings.pushgateway_url)


def _gate(config: DriftConfig, settings: Settings) -> Any:
    """The gate whose choices the traffic holds: the folder of the config, else the registry's champion."""
    from aiprime.serving import served_models

    source = served_models.ModelSource(
        model_dir=Path(config.gate_dir) if config.gate_dir else None,
        tracking_uri=settings.mlflow_url,
        cache_dir=settings.home / "models",
    )
    return served_models.load(source, "gate")


def route_shares(routes: list[str]) -> dict[str, float]:
    """Each route's share of `routes`, rounded to 4 places."""
    return {route: round(routes.count(route) / len(routes), 4) for route in sorted(set(routes))}


drift_check_job = dg.define_asset_job(
    "drift_check",
    selection=[TRAFFIC_DRIFT],
    description="Compare the gate's recent traffic with its training data.",
)
retrain_job = dg.define_asset_job(
    "retrain",
    selection=[GATE_FEEDBACK, dg.AssetKey("moe_models")],
    description="Export the feedback, then train, evaluate and register the gate, the experts and the baseline.",
)

hourly_drift_check = dg.ScheduleDefinition(
    name="hourly_drift_check",
    job=drift_check_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
weekly_retrain = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    run_config=RETRAIN_CONFIG,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.sensor(job=retrain_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def drift_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Start `retrain` when the latest `traffic_drift` materialisation found significant drift."""
    return judge_latest_check(context, TRAFFIC_DRIFT, hourly_drift_check.name, retrain_decision)


Decide = Callable[[dict[str, Any], int], dg.RunRequest | dg.SkipReason]  # (metadata, event id) -> verdict


def judge_latest_check(
    context: dg.SensorEvaluationContext, check: dg.AssetKey, schedule: str, decide: Decide
) -> dg.RunRequest | dg.SkipReason:
    """`decide` on the latest materialisation of the drift check `check` not judged yet (the cursor), once."""
    records = context.instance.fetch_materializations(check, limit=1).records
    if not records:
        return dg.SkipReason(
            f"{check.to_user_string()} was never materialised; the {schedule} schedule runs it."
        )
    record = records[0]
    if context.cursor is not None and record.storage_id <= int(context.cursor):
        return dg.SkipReason(
            f"No {check.to_user_string()} materialisation since the one judged (event {context.cursor})."
        )
    context.update_cursor(str(record.storage_id))
    return decide(record.asset_materialization.metadata, record.storage_id)


def retrain_decision(metadata: dict[str, Any], event_id: int) -> dg.RunRequest | dg.SkipReason:
    """A `retrain` run for a drift check that found drift; otherwise why not, with the tests' p-values."""
    return drift_decision(
        metadata,
        lambda tests, report: dg.RunRequest(
            run_key=f"drift-{event_id}",
            job_name=retrain_job.name,
            run_config=RETRAIN_CONFIG,
            tags={"aiprime/trigger": "drift", "aiprime/drift_tests": tests, "aiprime/drift_report": report},
        ),
    )


def drift_decision(
    metadata: dict[str, Any], run_request: Callable[[str, str], dg.RunRequest]
) -> dg.RunRequest | dg.SkipReason:
    """`run_request(tests, report)` for a drift check's metadata that found drift; otherwise a skip that says
    why, with the tests' p-values."""
    values = {key: getattr(value, "value", value) for key, value in metadata.items()}
    if values.get("status") != CHECKED:
        return dg.SkipReason(
            f"The drift check had not enough traffic ({values.get('requests')} requests, "
            f"{values.get('min_requests')} needed)."
        )
    tests = (
        f"MMD p={values['mmd_p_value']:.3g}, routing chi-square p={values['chi2_p_value']:.3g}, "
        f"alpha/2={values['alpha'] / 2:g}"
    )
    if not values["drifted"]:
        return dg.SkipReason(f"No significant drift in {values['requests']} requests: {tests}.")
    return run_request(tests, str(values.get("report", "")))


DRIFT_SCHEDULES = [hourly_drift_check, weekly_retrain]
DRIFT_JOBS = [drift_check_job, retrain_job]
