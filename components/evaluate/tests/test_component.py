"""evaluate: test metrics as KFP Metrics, Markdown and HTML outputs, and an MLflow run with the PNGs."""

from __future__ import annotations

from pathlib import Path

import pytest
from kfp import dsl
from mlflow import MlflowClient

pytestmark = pytest.mark.slow


def test_scores_the_system_and_logs_everything(
    component, artifact, datasets, models, make_plan, plan_artifact, tracking_uri: str
) -> None:
    outputs = {
        "metrics": artifact(dsl.Metrics, "metrics"),
        "report": artifact(dsl.Markdown, "report"),
        "page": artifact(dsl.HTML, "page"),
    }
    run_id = component("evaluate")(
        gate=models["gate"],
        experts=[models["living"], models["actions"]],
        dense=models["dense"],
        test=datasets["test"],
        plan=plan_artifact(make_plan(train=("living", "actions"))),
        mlflow_uri=tracking_uri,
        experiment="aiprime-moe",
        code_version="sha",
        pipeline_run_id="run-7",
        **outputs,
    )
    logged = outputs["metrics"].metadata
    assert logged["routing.utilisation.living"] + logged["routing.utilisation.actions"] == pytest.approx(1.0)
    assert {
        "gate.accuracy",
        "expert.living.macro_f1",
        "system.accuracy",
        "system_top2.accuracy",
        "dense.accuracy",
        "routing.utilisation_cv",
        "dropped_frac",
    } <= set(logged)
    assert "| system |" in Path(outputs["report"].path).read_text()
    assert Path(outputs["page"].path).read_text().count("data:image/png") == 2
    client = MlflowClient(tracking_uri)
    run = client.get_run(run_id)
    assert (
        run.data.tags["pipeline_run_id"] == "run-7"
        and run.data.params["trained"] == "gate,dense,living,actions"
    )
    assert {f.path for f in client.list_artifacts(run_id)} == {"confusion.png", "routing.png", "report.md"}
