"""Settings of a federated run: bad values are named with the fix; a missing venv names `make federated`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aiprime.errors import ConfigError, InvalidInput
from aiprime.federated.config import FederatedConfig
from aiprime.federated.heads import Task
from aiprime.federated.runner import run_federated


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"clients": 1}, "clients"),
        ({"strategy": "fedsgd"}, "strategy"),
        ({"secagg": True, "shares": 5, "threshold": 6}, "threshold"),
        ({"dp_clip": 0.0}, "dp_clip"),
        ({"dp_epsilon": -1.0}, "dp_epsilon"),
        ({"faults": {"0": "explode"}}, "faults"),
        ({"dp_unit": "user"}, "dp_unit"),
    ],
)
def test_invalid_settings_are_named(values: dict, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        FederatedConfig(**values)


def test_round_trips_through_json_with_an_infinite_budget(tmp_path: Path) -> None:
    config = FederatedConfig(rounds=3, faults={"2": "nan"})
    again = FederatedConfig.load(config.save(tmp_path / "config.json"))
    assert again == config
    assert math.isinf(again.dp_epsilon) and not again.private


def test_the_dp_unit_picks_central_or_per_record_dp() -> None:
    central, record = FederatedConfig(dp_epsilon=3.0), FederatedConfig(dp_epsilon=3.0, dp_unit="record")
    assert central.private and not central.record_private
    assert record.record_private and not record.private
    assert not FederatedConfig(dp_unit="record").record_private, "an infinite budget is no DP"


def test_missing_federated_venv_names_the_make_target(tmp_path: Path, small_task: Task) -> None:
    with pytest.raises(ConfigError, match="make federated"):
        run_federated(small_task, FederatedConfig(), tmp_path / "run", venv=tmp_path / "no-venv")
