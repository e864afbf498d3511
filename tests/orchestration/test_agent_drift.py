"""The agents' drift check as Dagster runs it: runs' tasks in the real `agents.runs` table, the policy's training
tasks from the tests' data subset, the sensor's verdict, and the retraining it asks for."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import dagster as dg
import pytest

from aiprime.agents.runs import RunStore, new_run_id
from aiprime.agents.tasks import Sources, build_suite, split_tasks
from aiprime.db.engine import connect
from aiprime.orchestration.agent_assets import agent_drift_sensor, agent_traffic_drift
from aiprime.orchestration.definitions import build_definitions
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PER_KIND = 30
WINDOW = 120
#: Requests the policy never trained on: other tasks than the suite's, in other words.
UNSEEN = ('Translate "{}" into French.', 'Write a short poem about "{}".', 'Draw a picture of "{}" for me.')


@pytest.fixture(scope="module")
def data_dir(subset_splits: Path) -> Path:
    return subset_splits.parent  # processed/ and splits/


@pytest.fixture(scope="module")
def traffic(data_dir: Path) -> dict[str, list[str]]:
    """Tasks as people would send them: the training phrasings about other subjects (another seed), and
    requests of kinds the suite does not hold."""
    same = [task.text for task in split_tasks(build_suite(Sources.load(data_dir), PER_KIND, seed=7), "train")]
    words = sorted({lemma for lemmas in Sources.load(data_dir).synsets.lemmas for lemma in lemmas})
    rng = random.Random(7)
    unseen = [rng.choice(UNSEEN).format(rng.choice(words).replace("_", " ")) for _ in range(WINDOW)]
    return {"same": random.Random(7).sample(same, WINDOW), "unseen": unseen}


@pytest.fixture
def workspace(
    data_dir: Path, embedding_cache: Path, pg_server_url: str, app_db_url: str, tmp_path: Path
) -> Workspace:
    """A checkout whose data/ is the subset, and a state folder that shares the embedding cache."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "data").symlink_to(data_dir)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "embeddings").symlink_to(embedding_cache)
    return Workspace(
        tmp_path / "repo", Settings(home=tmp_path / "home", database_url=pg_server_url, _env_file=None)
    )


def _store_runs(app_db_url: str, tasks: list[str]) -> str:
    """Store a run per task under a fresh agent name (the session's runs table is shared); the name."""
    agent = f"drift-{uuid.uuid4().hex[:8]}"
    engine = connect(app_db_url)
    store = RunStore(engine)
    for task in tasks:
        store.start(new_run_id(), agent, 1, "drift-test", task)
    engine.dispose()
    return agent


def _check(workspace: Workspace, instance: dg.DagsterInstance, agent: str) -> dict:
    config = {"agent": agent, "window": WINDOW, "min_runs": 50, "reference_size": 150, "per_kind": PER_KIND,
              "chooser": "rules"}  # fmt: skip
    result = dg.materialize(
        [agent_traffic_drift],
        instance=instance,
        resources={"workspace": workspace},
        run_config={"ops": {"agent_traffic_drift": {"config": config}}},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("agent_traffic_drift")
    return {k: v.value for k, v in materialization.metadata.items()}


@pytest.mark.slow
def test_unseen_requests_start_the_policys_retraining_once(workspace, traffic, app_db_url) -> None:
    agent = _store_runs(app_db_url, traffic["unseen"])
    with dg.DagsterInstance.ephemeral() as instance:
        metadata = _check(workspace, instance, agent)
        context = dg.build_sensor_context(instance=instance)
        request = agent_drift_sensor(context)
        again = agent_drift_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert metadata["drifted"] and metadata["requests"] == WINDOW and metadata["mmd_p_value"] < 0.01
    assert isinstance(request, dg.RunRequest), request
    assert request.job_name == "agents" and request.tags["aiprime/trigger"] == "agent-drift"
    assert request.tags["aiprime/drift_report"] == metadata["report"]
    report = Path(metadata["report"])
    assert report.name.startswith("agent-drift-") and "AI Prime drift verdict: DRIFT" in report.read_text()
    assert isinstance(again, dg.SkipReason) and "judged" in again.skip_message


@pytest.mark.slow
def test_tasks_of_the_training_phrasings_are_skipped_with_their_p_values(
    workspace, traffic, app_db_url
) -> None:
    agent = _store_runs(app_db_url, traffic["same"])
    with dg.DagsterInstance.ephemeral() as instance:
        metadata = _check(workspace, instance, agent)
        verdict = agent_drift_sensor(dg.build_sensor_context(instance=instance))
    assert not metadata["drifted"], metadata
    assert isinstance(verdict, dg.SkipReason), verdict
    assert f"p={metadata['mmd_p_value']:.3g}" in verdict.skip_message
    assert f"p={metadata['chi2_p_value']:.3g}" in verdict.skip_message


def test_too_few_runs_are_reported_not_failed(workspace, traffic, app_db_url) -> None:
    agent = _store_runs(app_db_url, traffic["unseen"][:10])
    with dg.DagsterInstance.ephemeral() as instance:
        metadata = _check(workspace, instance, agent)
        verdict = agent_drift_sensor(dg.build_sensor_context(instance=instance))
    assert (metadata["status"], metadata["requests"]) == ("not enough traffic", 10)
    assert isinstance(verdict, dg.SkipReason) and "not enough traffic" in verdict.skip_message
    assert not (workspace.settings.home / "reports").exists()


def test_the_sensor_retrains_only_the_policy_which_the_off_policy_gate_promotes(tmp_path: Path) -> None:
    defs = build_definitions(Settings(home=tmp_path, _env_file=None), REPO)
    assert defs.resolve_sensor_def("agent_drift_sensor").job_name == "agents"
    assert defs.resolve_job_def("agents").asset_layer.executable_asset_keys == {dg.AssetKey("agent_policy")}
    schedule = defs.resolve_schedule_def("hourly_agent_drift_check")
    assert defs.resolve_job_def(schedule.job_name).asset_layer.executable_asset_keys == {
        dg.AssetKey("agent_traffic_drift")
    }
    everything = defs.resolve_job_def("everything").asset_layer.executable_asset_keys
    assert dg.AssetKey("agent_traffic_drift") not in everything
