"""The `moe-training` Kubeflow pipeline: it compiles to the committed YAML, and it runs for real with kfp.local.

The end-to-end tests run the compiled pipeline twice on a 60-entry DVC subset against an MLflow server of this
module's own (the session's registry holds champions other tests registered, and a first run must meet none):
a first run that registers champions, then `aiprime train` with a crippled configuration, whose challengers
the champion gate refuses.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from _helpers.progress import Recording
from mlflow import MlflowClient
from typer.testing import CliRunner

from aiprime import versioning
from aiprime.cli import app
from aiprime.moe.dataset import QUESTIONS, TABLE, VAL_SHARE
from aiprime.observability import progress
from aiprime.registry import mlflow_registry as registry
from aiprime.training import kubeflow

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("prepare_data", "plan_training", "train_model", "evaluate", "register")
TRAINED = (
    "gate",
    "expert-abstractions",
    "expert-actions",
    "expert-qualities",
    "dense",
)  # domains in the subset


def test_every_pipeline_compiles_to_its_committed_yaml() -> None:
    assert kubeflow.stale_pipelines(REPO) == [], (
        "recompile with `python -m aiprime.training.kubeflow` (make pipelines)"
    )


@pytest.mark.parametrize("name", COMPONENTS)
def test_every_component_has_its_folder_and_loads_by_path(name: str) -> None:
    folder = REPO / "components" / name
    assert (folder / "README.md").is_file() and any((folder / "tests").glob("test_*.py")), folder
    component = kubeflow.load_component(name, REPO)
    assert component.component_spec.implementation.container.image == kubeflow.BASE_IMAGE
    assert callable(component.python_func)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, subset_checkout) -> Path:
    """A DVC checkout of a 60-entry subset (4 of the 6 domains), with the repository's pipeline files."""
    root = subset_checkout(tmp_path_factory.mktemp("moe-checkout"), limit=60)
    versioning.reproduce(root)
    for folder in ("components", "pipelines"):
        (root / folder).symlink_to(REPO / folder)
    return root


@pytest.fixture(scope="module")
def mlflow_url(fresh_mlflow_url: str) -> str:
    """A registry with no champions yet, whatever ran before (tests/conftest.py)."""
    return fresh_mlflow_url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("moe-home")


@pytest.fixture(scope="module")
def first_run(checkout: Path, home: Path, mlflow_url: str) -> dict:
    """The compiled pipeline run once with settings that learn the subset."""
    arguments = {
        "repo_root": str(checkout),
        "mlflow_uri": mlflow_url,
        "code_version": "test-sha",
        "limit": 0,
        "max_epochs": 20,
        "lr": 0.01,
        "seed": 0,
        "threads": 1,
        "retrain": False,
        "embedding_cache": str(home / "embeddings"),
        "experiment": "moe-test",
    }
    with (home / "first-run.log").open("w") as log:
        return json.loads(kubeflow.run_local(kubeflow.compiled_path(root=REPO), arguments, home / "kfp", log))


@pytest.mark.slow
def test_the_first_run_makes_champions_of_the_gate_the_experts_and_dense(
    first_run: dict, checkout: Path, mlflow_url: str
) -> None:
    promotions = {p["name"]: p for p in first_run["promotions"]}
    assert sorted(promotions) == sorted(registry.registered_name(role) for role in TRAINED)
    assert all(p["promoted"] and p["champion_before"] is None for p in promotions.values()), promotions
    assert sorted(first_run["skipped"]) == ["artifacts", "living", "people_society"]
    md5 = versioning.stage_outs(checkout, "splits")[TABLE]
    client = MlflowClient(mlflow_url)
    for name, promotion in promotions.items():
        assert registry.version_for(mlflow_url, name, "champion") == promotion["challenger"]
        tags = client.get_model_version(name, promotion["challenger"]).tags
        assert tags["data_version"] == md5 and tags["code_version"] == "test-sha", tags
        assert tags["pipeline_run_id"] and tags["fingerprint"]


@pytest.mark.slow
def test_the_pipeline_trains_the_gate_on_sense_questions_too(first_run: dict, mlflow_url: str) -> None:
    client, name = MlflowClient(mlflow_url), registry.registered_name("gate")
    version = client.get_model_version(name, registry.version_for(mlflow_url, name, "champion"))
    params = client.get_run(version.run_id).data.params
    assert int(params["questions.train"]) > 0 and int(params["questions.val"]) > 0, params
    bounds = f"|train={QUESTIONS}|val={QUESTIONS // VAL_SHARE}|seed=0"  # the pipeline's default
    assert params["questions.version"].endswith(bounds), params


@pytest.mark.slow
def test_the_run_logs_its_test_metrics_and_plots_to_kfp_and_mlflow(first_run: dict, mlflow_url: str) -> None:
    metrics = first_run["metrics"]  # what the evaluate step logged as KFP Metrics
    for key in (
        "gate.accuracy",
        "system.macro_f1",
        "system_top2.accuracy",
        "dense.accuracy",
        "expert.qualities.accuracy",
        "routing.utilisation_cv",
        "dropped_frac",
    ):
        assert key in metrics, sorted(metrics)
    client = MlflowClient(mlflow_url)
    run = client.get_run(first_run["mlflow_run_id"])
    assert run.data.metrics["system.accuracy"] == pytest.approx(metrics["system.accuracy"])
    assert run.data.params["trained"] == "gate,dense,abstractions,actions,qualities"
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"confusion.png", "routing.png", "report.md"} <= files


@pytest.mark.slow
def test_aiprime_train_with_a_crippled_config_leaves_the_champions(
    first_run: dict,
    checkout: Path,
    home: Path,
    mlflow_url: str,
    pg_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    champions = {p["name"]: p["challenger"] for p in first_run["promotions"]}
    monkeypatch.chdir(checkout)
    for variable, value in {
        "AIPRIME_HOME": str(home),
        "AIPRIME_DATABASE_URL": pg_server_url,
        "AIPRIME_MLFLOW_TRACKING_URI": mlflow_url,
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(
        app, ["train", "--retrain", "--max-epochs", "1", "--lr", "0.000001", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "system_top2" in result.output and result.output.count("challenger only") == len(TRAINED), (
        result.output
    )
    assert "aiprime-gate v2" in result.output and "does not beat champion v1" in result.output
    for name, version in champions.items():
        assert registry.version_for(mlflow_url, name, "champion") == version, name
        assert registry.version_for(mlflow_url, name, "challenger") != version, name


def test_the_log_tap_mirrors_a_task_s_relayed_progress_and_reports_its_start(tmp_path: Path) -> None:
    tasks, recording, log = [], Recording(), io.StringIO()
    stage = progress.Stage("embedding 8 texts (fp32 MiniLM)", total=8)
    relay = io.StringIO()
    for event, done in (("started", 0), ("advanced", 8), ("finished", 8)):
        stage.done = done
        getattr(progress.LineRelay(relay), event)(stage)
    with progress.reporting_to(recording), kubeflow._tapped_stdout(log, lambda *task: tasks.append(task)):
        print("15:49:51.666 - INFO - Executing task \x1b[96m'prepare-data'\x1b[0m")
        for line in relay.getvalue().splitlines():
            print("    " + line)  # as kfp.local streams a task's output
    assert tasks == [("prepare-data", "running")]
    assert [(event, done) for event, _, done, _ in recording.events] == [
        ("started", 0),
        ("advanced", 8),
        ("finished", 8),
    ]
    assert progress.RELAY in log.getvalue()  # the log keeps everything the task printed
