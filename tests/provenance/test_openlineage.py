"""OpenLineage events of real Dagster runs and of KFP tasks, checked against the RunEvent schema."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import dagster as dg
import pytest
from _helpers.openlineage_schema import errors

from aiprime.orchestration.lineage_events import SENT_BY_RUNNER, emit_run, lineage_sensors
from aiprime.provenance.openlineage import Emitter, events_file, kfp_pipeline_run
from aiprime.settings import Settings


def read_events(settings: Settings) -> list[dict]:
    return [json.loads(line) for line in events_file(settings).read_text().splitlines()]


@dg.asset
def source_table() -> int:
    return 1


@dg.asset(deps=[source_table])
def derived_table() -> dg.Output[int]:
    return dg.Output(2, data_version=dg.DataVersion("md5-of-derived"))


@dg.asset
def broken_table() -> int:
    raise RuntimeError("bad input")


def run_assets(settings: Settings, *assets: dg.AssetsDefinition) -> tuple[str, str]:
    """Materialise `assets` on a real instance and emit the run's events; (run id, job name)."""
    defs = dg.Definitions(assets=list(assets))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        emit_run(Emitter(settings), instance, result.run_id, defs.resolve_asset_graph())
    return result.run_id, job.name


def test_every_materialisation_is_a_valid_start_and_complete(settings: Settings) -> None:
    run_id, job = run_assets(settings, source_table, derived_table)

    events = read_events(settings)

    assert [errors(e) for e in events] == [[]] * 4
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("source_table", "START"),
        ("source_table", "COMPLETE"),
        ("derived_table", "START"),
        ("derived_table", "COMPLETE"),
    ]
    start, complete = events[2:]
    assert start["run"]["runId"] == complete["run"]["runId"] != events[0]["run"]["runId"]
    assert [d["name"] for d in complete["inputs"]] == ["source_table"]
    assert complete["outputs"][0]["facets"]["version"]["datasetVersion"] == "md5-of-derived"
    parent = complete["run"]["facets"]["parent"]
    assert (parent["job"]["name"], parent["run"]["runId"]) == (job, run_id)


def test_a_failed_step_is_a_start_and_a_fail(settings: Settings) -> None:
    run_assets(settings, broken_table)

    events = read_events(settings)

    assert [errors(e) for e in events] == [[], []]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("broken_table", "START"),
        ("broken_table", "FAIL"),
    ]


def test_kfp_tasks_and_their_pipeline_are_runs_with_a_parent(settings: Settings) -> None:
    seen = []
    with kfp_pipeline_run(Emitter(settings), "moe-training", lambda t, s: seen.append((t, s))) as on_task:
        for task, state in [
            ("prepare-data", "running"),
            ("prepare-data", "SUCCESS"),
            ("train-model", "running"),
            ("train-model", "running"),
            ("train-model", "SUCCESS"),
            ("train-model", "FAILURE"),
        ]:
            on_task(task, state)

    events = read_events(settings)

    assert [errors(e) for e in events] == [[]] * 8
    assert len(seen) == 6
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("moe-training", "START"),
        ("moe-training.prepare-data", "START"),
        ("moe-training.prepare-data", "COMPLETE"),
        ("moe-training.train-model", "START"),
        ("moe-training.train-model", "START"),
        ("moe-training.train-model", "COMPLETE"),
        ("moe-training.train-model", "FAIL"),
        ("moe-training", "COMPLETE"),
    ]
    first, second = events[3]["run"]["runId"], events[4]["run"]["runId"]
    assert first != second and (events[5]["run"]["runId"], events[6]["run"]["runId"]) == (first, second)
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in events[1:7]} == {events[0]["run"]["runId"]}


def test_a_pipeline_that_raises_ends_with_fail(settings: Settings) -> None:
    with pytest.raises(RuntimeError), kfp_pipeline_run(Emitter(settings), "moe-training"):
        raise RuntimeError("task failed")

    assert [e["eventType"] for e in read_events(settings)] == ["START", "FAIL"]


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def marquez() -> Iterator[tuple[str, list]]:
    """A Marquez-compatible endpoint on 127.0.0.1 that keeps what it is sent."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    server.shutdown()


def test_a_configured_endpoint_receives_the_events_over_http(settings: Settings, marquez) -> None:
    url, received = marquez
    run_assets(settings.model_copy(update={"openlineage_url": url}), source_table)

    assert [(path, e["eventType"], errors(e)) for path, e in received] == [
        ("/api/v1/lineage", "START", []),
        ("/api/v1/lineage", "COMPLETE", []),
    ]
    assert not events_file(settings).exists()


def test_an_unreachable_endpoint_does_not_fail_the_run(settings: Settings, closed_port: int, caplog) -> None:
    unreachable = settings.model_copy(update={"openlineage_url": f"http://127.0.0.1:{closed_port}"})

    run_assets(unreachable, source_table, derived_table)

    warnings = [r.getMessage() for r in caplog.records if "OpenLineage event" in r.getMessage()]
    assert len(warnings) == 1 and "of source_table not sent" in warnings[0]  # one failure, then no more tries


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_schema_rejects_what_the_spec_forbids() -> None:
    event = {"eventTime": "2026-01-01T00:00:00", "producer": "aiprime", "run": {"runId": "run-1"}, "job": {}}

    found = errors(event)

    assert len(found) == 6, found  # naive time, producer not a URI, runId not a UUID, no schemaURL, job's two


@pytest.mark.parametrize(("tags", "emitted"), [({}, 2), ({SENT_BY_RUNNER: "true"}, 0)])
def test_the_sensor_emits_a_run_started_elsewhere_once(settings: Settings, tags: dict, emitted: int) -> None:
    on_success = lineage_sensors(settings)[0]
    defs = dg.Definitions(assets=[source_table], sensors=[on_success])
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, tags=tags)
        logs = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        success = logs[0].dagster_event
        context = dg.build_run_status_sensor_context(
            "openlineage_on_success",
            success,
            instance,
            result.dagster_run,
            repository_def=defs.get_repository_def(),
        )
        on_success(context)

    sent = read_events(settings) if events_file(settings).exists() else []
    assert [(e["job"]["name"], e["eventType"]) for e in sent] == [
        ("source_table", "START"),
        ("source_table", "COMPLETE"),
    ][:emitted]
