"""What `aiprime run` reads back from a Dagster run: the training summary, when training ran here."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from aiprime.cli.platform import training_summary


def materialised(metadata: dict) -> dg.ExecuteInProcessResult:
    @dg.asset(name="moe_models")
    def moe_models() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=metadata)

    return dg.materialize([moe_models])


def test_the_summary_of_a_local_run_is_read_and_a_submitted_run_has_none(tmp_path: Path) -> None:
    summary = tmp_path / "train.json"
    summary.write_text(json.dumps({"mlflow_run_id": "abc", "promotions": []}))
    assert training_summary(materialised({"summary": dg.MetadataValue.path(str(summary))}))["mlflow_run_id"] == "abc"
    assert training_summary(materialised({"kfp_run_id": "run-1", "kfp_host": "http://kfp"})) is None
