"""A command's log file: warnings go there, so the console shows progress and results only.

Dagster warns of beta and deprecated APIs (`BetaWarning`, `DeprecationWarning`) on every run; they matter to
whoever upgrades Dagster, not to someone running `aiprime run`, so they are written to the command's log.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

from aiprime.settings import Settings

WARNINGS_LOGGER = "py.warnings"  # where `logging.captureWarnings` sends each warning


@contextlib.contextmanager
def warnings_to_log(log_file: Path) -> Iterator[Path]:
    """Within the block, write every warning (each distinct one once) to `log_file` instead of stderr."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger(WARNINGS_LOGGER)
    saved = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [handler], False
    try:
        with warnings.catch_warnings():  # restores the filters and showwarning on the way out
            warnings.simplefilter("default")
            logging.captureWarnings(True)
            try:
                yield log_file
            finally:
                logging.captureWarnings(False)
    finally:
        logger.handlers, logger.propagate = saved
        handler.close()


def run_log(settings: Settings) -> Path:
    """The log file of `aiprime run`: `<AIPRIME_HOME>/logs/run.log`."""
    return settings.log_dir / "run.log"
