"""A run's Dagster lines go to its log file, not the console, and each step reports as a progress stage."""

from pathlib import Path

import dagster as dg
import pytest

from aiprime.observability import progress
from aiprime.orchestration.run_log import LOGGER, dagster_logging_to, run_logger


class Stages:
    """A reporter that keeps ("started" | "finished", stage name) as stages report."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self, stage: progress.Stage) -> None:
        self.events.append(("started", stage.name))

    def advanced(self, stage: progress.Stage) -> None:
        pass

    def finished(self, stage: progress.Stage) -> None:
        self.events.append(("finished", stage.name))


@dg.asset
def upstream(context: dg.AssetExecutionContext) -> int:
    context.log.info("upstream says hello")
    print("a library prints its report")  # as Feast's materialisation does
    return 1


@dg.asset
def downstream(upstream: int) -> int:
    return upstream + 1


@dg.asset
def broken() -> None:
    raise ValueError("broken on purpose")


def run_job(assets: list, log_file: Path) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job("job", selection=dg.AssetSelection.all())
    defs = dg.Definitions(assets=assets, jobs=[job])
    logged = defs.resolve_job_def("job").with_logger_defs({LOGGER: run_logger(log_file)})
    with dagster_logging_to(log_file):
        return logged.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            run_config={"loggers": {LOGGER: {}}},
        )


def test_steps_report_as_stages_and_dagster_lines_go_to_the_file_only(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    stages, log_file = Stages(), tmp_path / "logs" / "run.log"
    with progress.reporting_to(stages):
        assert run_job([upstream, downstream], log_file).success
    assert stages.events == [
        ("started", "upstream"),
        ("finished", "upstream"),
        ("started", "downstream"),
        ("finished", "downstream"),
    ]
    lines = log_file.read_text()
    assert "upstream says hello" in lines and "STEP_SUCCESS" in lines
    assert "a library prints its report" in lines
    console = capfd.readouterr()
    assert "upstream says hello" not in console.out + console.err
    assert "prints its report" not in console.out + console.err
    assert "STEP_" not in console.out + console.err


def test_a_failed_step_closes_its_stage(tmp_path: Path) -> None:
    stages = Stages()
    with progress.reporting_to(stages):
        assert not run_job([broken], tmp_path / "run.log").success
    assert stages.events == [("started", "broken"), ("finished", "broken")]
    assert "broken on purpose" in (tmp_path / "run.log").read_text()


def test_each_training_task_reports_as_a_stage_from_its_start_to_its_end() -> None:
    from aiprime.orchestration.model_assets import TaskStages

    stages, lines = Stages(), []
    tasks = TaskStages(lines.append)
    with progress.reporting_to(stages):
        tasks.on_task("train-model", "running")  # two iterations of a ParallelFor: one task name
        tasks.on_task("train-model", "running")
        tasks.on_task("train-model", "SUCCESS")
        tasks.on_task("train-model-2", "running")
        tasks.on_task("train-model-2", "SUCCESS")
        tasks.on_task("train-model", "FAILURE")
    assert stages.events == [
        ("started", "training task train-model"),
        ("started", "training task train-model #2"),
        ("finished", "training task train-model"),
        ("started", "training task train-model-2"),
        ("finished", "training task train-model-2"),
        ("finished", "training task train-model #2"),
    ]
    assert lines[-1] == "task train-model: FAILURE"
