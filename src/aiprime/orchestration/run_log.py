"""Where an in-process Dagster run writes: every event and log line to a file, each step as a progress stage.

Dagster's console logger prints each event (and a debug line per event) between the results a person
wants to see. `run_logger` replaces it for a run: the lines go to `<AIPRIME_HOME>/logs/run.log`, and each
step reports its start and end through `aiprime.observability.progress`, which the CLI renders.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata

from aiprime.observability import progress

LOGGER = "run_log"  # the key of `run_logger` in a job's logger definitions and in run config
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class StepStages(logging.Handler):
    """Opens a progress stage when a Dagster step starts and closes it when the step ends."""

    ENDS = ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stages: dict[str, progress.Stage] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = get_log_record_metadata(record)["dagster_event"] if has_log_record_metadata(record) else None
        if event is None or event.step_key is None:
            return
        if event.event_type_value == "STEP_START":
            self.stages[event.step_key] = progress.stage(event.step_key)
        elif event.event_type_value in self.ENDS and event.step_key in self.stages:
            self.stages.pop(event.step_key).close()


def run_logger(log_file: Path) -> dg.LoggerDefinition:
    """A Dagster logger that appends the run's lines to `log_file` and reports its steps as stages."""

    @dg.logger(description="Run lines to the run's log file; steps as progress stages.")
    def run_log(init_context: dg.InitLoggerContext) -> logging.Logger:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logger = logging.getLogger(f"aiprime.run.{init_context.run_id}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # not to the root logger's console handlers
        to_file = logging.FileHandler(log_file, encoding="utf-8", delay=True)
        to_file.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.handlers = [to_file, StepStages()]
        return logger

    return run_log


@contextlib.contextmanager
def dagster_logging_to(log_file: Path) -> Iterator[None]:
    """Within the block, Dagster's own Python logger (instance and system messages) and whatever the steps
    print (Feast's materialisation report, say) go to `log_file`; subprocesses keep their own output."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("dagster")
    saved = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [handler], False
    try:
        with (
            log_file.open("a", encoding="utf-8", buffering=1) as printed,
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
        ):
            yield
    finally:
        logger.handlers, logger.propagate = saved
        handler.close()
