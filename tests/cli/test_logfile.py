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
    with warnings_to_log(log):
        for _ in range(2):
            warnings.warn("the old API is deprecated", DeprecationWarning, stacklevel=1)
        warnings.warn("this API is in beta", dg.BetaWarning, stacklevel=1)
    text = log.read_text()
    assert log == tmp_path / "logs" / "run.log"
    assert text.count("DeprecationWarning: the old API is deprecated") == 1  # each distinct warning once
    assert "BetaWarning: this API is in beta" in text
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
