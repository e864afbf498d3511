"""OpenLineage run events for Dagster materialisations and KFP tasks, so lineage collectors see AI Prime.

Events go to `<AIPRIME_HOME>/openlineage/events.jsonl` (OpenLineage's file transport, one event a line), or
to a Marquez-compatible endpoint (`POST {url}/api/v1/lineage`) when AIPRIME_OPENLINEAGE_URL names one.
Run ids are UUIDs derived from the orchestrator's own ids, so the same Dagster run always maps to the same
OpenLineage runs. Emitting never fails the pipeline: an unreachable endpoint is logged and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiprime.settings import Settings

log = logging.getLogger(__name__)
PRODUCER = "https://github.com/aiprime/aiprime/tree/main/src/aiprime/provenance"
DAGSTER_NAMESPACE = "aiprime-dagster"  # jobs and datasets of Dagster's assets
KFP_NAMESPACE = "aiprime-kfp"  # jobs of the training pipeline's tasks
TRAINING_PIPELINE = "moe-training"  # the KFP pipeline that trains the models (pipelines/moe_training.py)
KFP_STATES = {"running": "START", "SUCCESS": "COMPLETE", "FAILURE": "FAIL"}  # kfp.local's words


def events_file(settings: Settings) -> Path:
    """Where the file transport appends events."""
    return settings.home / "openlineage" / "events.jsonl"


def run_id(*parts: str) -> str:
    """A stable OpenLineage run id (a UUID) for an orchestrator's run named by `parts`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "aiprime:" + "/".join(parts)))


@dataclass(frozen=True)
class JobRun:
    """One run of one job, and the run that started it."""

    namespace: str
    job: str
    run_id: str
    parent: tuple[str, str, str] | None = None  # (namespace, job, run id) of the parent run


class Emitter:
    """Sends run events through the file transport, or HTTP when a URL is configured.

    After one event fails the emitter sends no more: one warning, and the run is not held up once per asset
    (a closed port on 127.0.0.1 cost OpenLineage's five retries 9.0 s for one event, measured with
    `Emitter(...).emit` against a port nothing listened on).
    """

    def __init__(self, settings: Settings) -> None:
        """Create the transport that `settings.openlineage_url` picks (not connected yet)."""
        from openlineage.client.transport.file import FileConfig, FileTransport
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        if settings.openlineage_url:
            self.transport = HttpTransport(HttpConfig(url=settings.openlineage_url))
        else:
            events_file(settings).parent.mkdir(parents=True, exist_ok=True)
            self.transport = FileTransport(FileConfig(log_file_path=str(events_file(settings)), append=True))
        self.failed = False  # set by the first event that could not be sent

    def emit(
        self,
        state: str,
        run: JobRun,
        inputs: Sequence[str] = (),
        outputs: Sequence[tuple[str, str | None]] = (),
        when: datetime | None = None,
    ) -> None:
        """Send one event: `state` (START, COMPLETE, FAIL), input dataset names, (output name, version)."""
        if self.failed:
            return
        try:
            self.transport.emit(_event(state, run, inputs, outputs, when or datetime.now(UTC)))
        except Exception as e:  # noqa: BLE001 - lineage is a by-product: the run goes on
            self.failed = True
            log.warning(
                "OpenLineage event of %s not sent (%s: %s); the events after it are not sent either. Check "
                "AIPRIME_OPENLINEAGE_URL.",
                run.job,
                type(e).__name__,
                e,
            )


def _event(
    state: str, run: JobRun, inputs: Sequence[str], outputs: Sequence[tuple[str, str | None]], when: datetime
) -> Any:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated import dataset_version_dataset, parent_run

    facets = {}
    if run.parent is not None:
        namespace, job, parent_id = run.parent
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id), job=parent_run.Job(namespace=namespace, name=job)
        )
    return RunEvent(
        eventType=RunState[state],
        eventTime=when.isoformat(),
        run=Run(runId=run.run_id, facets=facets),
        job=Job(namespace=run.namespace, name=run.job),
        producer=PRODUCER,
        inputs=[InputDataset(namespace=run.namespace, name=name) for name in inputs],
        outputs=[
            OutputDataset(
                namespace=run.namespace,
                name=name,
                facets={"version": dataset_version_dataset.DatasetVersionDatasetFacet(version)}
                if version
                else {},
            )
            for name, version in outputs
        ],
    )


def kfp_task_listener(emitter: Emitter, pipeline: str, pipeline_run: str) -> Callable[[str, str], None]:
    """An `on_task(task, state)` callback (`aiprime.training.launch.train_here`) that emits each task's
    START and COMPLETE/FAIL; iterations of a ParallelFor task are separate runs, ended in the order started.
    kfp.local reports from one thread per iteration, hence the lock."""
    started: dict[str, int] = defaultdict(int)
    running: dict[str, deque[JobRun]] = defaultdict(deque)
    parent = (KFP_NAMESPACE, pipeline, pipeline_run)
    lock = threading.Lock()

    def on_task(task: str, state: str) -> None:
        if state not in KFP_STATES:
            return
        with lock:
            if state == "running":
                started[task] += 1
                job = f"{pipeline}.{task}"
                running[task].append(
                    JobRun(KFP_NAMESPACE, job, run_id(pipeline_run, task, str(started[task])), parent)
                )
                run = running[task][-1]
            elif running[task]:
                run = running[task].popleft()
            else:
                return  # an end whose start we did not see: nothing to pair it with
            emitter.emit(KFP_STATES[state], run)

    return on_task


@contextlib.contextmanager
def kfp_pipeline_run(
    emitter: Emitter, pipeline: str, then: Callable[[str, str], None] = lambda task, state: None
) -> Iterator[Callable[[str, str], None]]:
    """Emit START and COMPLETE (or FAIL, when the block raises) of one run of `pipeline`; yields an
    `on_task(task, state)` callback that emits its tasks' events and then calls `then`."""
    run = JobRun(KFP_NAMESPACE, pipeline, str(uuid.uuid4()))
    tasks = kfp_task_listener(emitter, pipeline, run.run_id)

    def on_task(task: str, state: str) -> None:
        tasks(task, state)
        then(task, state)

    emitter.emit("START", run)
    try:
        yield on_task
    except BaseException:
        emitter.emit("FAIL", run)
        raise
    emitter.emit("COMPLETE", run)
