"""KFP component `evaluate`: test-split scores of every model and of the system, logged to KFP and MLflow."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from aiprime.training.kubeflow import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate(
    gate: Input[Model],
    experts: Input[list[Model]],
    dense: Input[Model],
    test: Input[Dataset],
    plan: Input[Artifact],
    mlflow_uri: str,
    experiment: str,
    code_version: str,
    pipeline_run_id: str,
    metrics: Output[Metrics],
    report: Output[Markdown],
    page: Output[HTML],
) -> str:
    """Score gate, experts, system (top-1 and top-2) and dense baseline; routing, drops and the two PNGs.

    Returns:
        The id of the MLflow run that holds the metrics, the parameters and the PNGs.
    """
    import math
    import tempfile
    from pathlib import Path

    from aiprime.moe import evaluation
    from aiprime.moe import report as reports
    from aiprime.moe.dataset import TaskSplit
    from aiprime.moe.system import Member, MoESystem
    from aiprime.training.planning import RunPlan, describe
    from aiprime.training.registration import Lineage, log_evaluation

    decided = RunPlan.from_json(Path(plan.path).read_text())
    system = MoESystem.from_folders(Path(gate.path), [Path(m.path) for m in experts])
    result = evaluation.evaluate(system, Member.load(Path(dense.path)), TaskSplit.load(Path(test.path)))
    for key, value in result.metrics.items():
        if not math.isnan(value):
            metrics.log_metric(key, value)
    Path(report.path).write_text(reports.markdown(result.metrics))
    with tempfile.TemporaryDirectory(prefix="aiprime-evaluate-") as tmp:
        files = evaluation.write_plots(result, Path(tmp))
        Path(page.path).write_text(reports.html_page(result.metrics, files))
        files["report"] = Path(tmp) / "report.md"
        files["report"].write_text(Path(report.path).read_text())
        lineage = Lineage(decided.data_version, code_version, pipeline_run_id)
        return log_evaluation(mlflow_uri, result.metrics, files, describe(decided), lineage, experiment)
