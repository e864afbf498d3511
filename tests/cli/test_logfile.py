"""`aiprime run` writes warnings to its log file, so its console shows progress and results only."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pytest

from aiprime.cli.logfile import run_log, warnings_to_log
from aiprime.settings import Settings


def test_a_warning_during_aiprime_run_goes_to_its_log_not_the_console(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = run_log(Settings(home=tmp_path, _env_file=None))
    old, beta = (
        "the old API is " + "deprecated",
        "this API is " + "in beta",
    )  # not as in the source line shown
    with warnings_to_log(log):
        for _ in range(2):
            warnings.warn(old, DeprecationWarning, stacklevel=1)
        warnings.warn(beta, dg.BetaWarning, stacklevel=1)
    text = log.read_text()
    assert log == tmp_path / "logs" / "run.log"
    assert text.count(old) == 1 and "DeprecationWarning" in text  # each distinct warning once
    assert beta in text and "BetaWarning" in text
    console = capfd.readouterr()
    assert "deprecated" not in console.err + console.out and "beta" not in console.err + console.out


def test_warnings_show_as_before_once_the_block_ends(tmp_path: Path) -> None:
    before = warnings.showwarning
    with warnings_to_log(tmp_path / "run.log"):
        pass
    assert warnings.showwarning is before
    with pytest.warns(UserWarning, match="after"):
        warnings.warn("after", UserWarning, stacklevel=1)
    assert "after" not in (tmp_path / "run.log").read_text()
