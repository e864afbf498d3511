"""OpenLineage events of a finished Dagster run, read back from the run's event log.

Each materialised asset is one OpenLineage run (job `<asset key>` in namespace `aiprime-dagster`): START at
its step's start, COMPLETE at its materialisation, with the asset's upstream assets as inputs and the asset
with its Dagster data version (the DVC md5, the MLflow run, ...) as output. A failed step is a START and a
FAIL of the job named by its step key. Every run names the Dagster run as its parent.

`aiprime run` emits its runs' events when they end (`runner`); the sensors of `lineage_sensors` emit those
of every other run (from the UI, a schedule, a sensor) when the daemon sees it end.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from aiprime.provenance.openlineage import DAGSTER_NAMESPACE, Emitter, JobRun, run_id
from aiprime.settings import Settings


def emit_run(emitter: Emitter, instance: dg.DagsterInstance, dagster_run_id: str, graph: object) -> int:
    """Emit the events of run `dagster_run_id` (`graph`: the definitions' asset graph); how many were sent."""
    run = instance.get_run_by_id(dagster_run_id)
    parent = (DAGSTER_NAMESPACE, run.job_name if run else "unknown", dagster_run_id)
    started: dict[str, datetime] = {}
    sent = 0
    for entry in instance.all_logs(dagster_run_id):
        event, when = entry.dagster_event, datetime.fromtimestamp(entry.timestamp, UTC)
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = when
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            sent += _materialised(emitter, event, started.get(event.step_key, when), when, graph, parent)
        elif event.event_type_value == "STEP_FAILURE":
            failed = JobRun(DAGSTER_NAMESPACE, event.step_key, run_id(dagster_run_id, event.step_key), parent)
            emitter.emit("START", failed, when=started.get(event.step_key, when))
            emitter.emit("FAIL", failed, when=when)
            sent += 2
    return sent


def _materialised(
    emitter: Emitter,
    event: dg.DagsterEvent,
    start: datetime,
    end: datetime,
    graph: object,
    parent: tuple[str, str, str],
) -> int:
    materialization = event.event_specific_data.materialization
    key = materialization.asset_key
    name = key.to_user_string()
    inputs = [k.to_user_string() for k in graph.get(key).parent_keys] if graph.has(key) else []
    job_run = JobRun(DAGSTER_NAMESPACE, name, run_id(parent[2], name), parent)
    emitter.emit("START", job_run, inputs=inputs, when=start)
    version = (materialization.tags or {}).get("dagster/data_version")
    emitter.emit("COMPLETE", job_run, inputs=inputs, outputs=[(name, version)], when=end)
    return 2


SENT_BY_RUNNER = "aiprime/openlineage-sent"  # a run tag: `aiprime run` emitted this run's events itself


def lineage_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    """Sensors that emit the events of runs that end in the daemon's sight (started from the Dagster UI,
    by a schedule or a sensor), unless `aiprime run` already did."""

    def emit(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
        if context.dagster_run.tags.get(SENT_BY_RUNNER):
            return dg.SkipReason(f"aiprime run emitted the events of run {context.dagster_run.run_id}.")
        graph = context.repository_def.asset_graph
        emit_run(Emitter(settings), context.instance, context.dagster_run.run_id, graph)
        return None

    status = dg.DefaultSensorStatus.RUNNING
    return [
        dg.run_status_sensor(
            run_status=dg.DagsterRunStatus.SUCCESS, name="openlineage_on_success", default_status=status,
            monitor_all_code_locations=False, description="OpenLineage events of each successful run.",
        )(emit),
        dg.run_failure_sensor(
            name="openlineage_on_failure", default_status=status,
            description="OpenLineage events of each failed run.",
        )(emit),
    ]  # fmt: skip
