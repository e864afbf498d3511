"""The feedback loop closing on a small subset of the real data, with real PostgreSQL, Dagster and fits:
shifted traffic -> drift detected -> feedback on a sample -> retrain -> the gate's accuracy on that traffic
rises, and the champion gate is replaced only if the retrained gate wins on validation.

The traffic is the retrieval task's example sentences (`she was ___ to program her computer`), which the gate,
trained on glosses, routes worse than glosses. Operators label a sample of the train split's sentences; the
sentences of test-split synsets measure the gate on that traffic.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient

from aiprime.db.engine import connect
from aiprime.drift import feedback
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import TaskSplit, build_splits, file_md5
from aiprime.moe.embeddings import embed_texts
from aiprime.orchestration.drift_assets import gate_feedback, retrain_decision, traffic_drift
from aiprime.orchestration.resources import Workspace
from aiprime.registry import mlflow_registry as registry
from aiprime.serving.served_models import gate_routes, load_served
from aiprime.settings import Settings
from aiprime.training.kubeflow import EXPERIMENT
from aiprime.training.registration import Lineage, register_candidate

pytestmark = pytest.mark.slow
LABELLED = 300  # train-split sentences the operators label, of the subset's 581
RUN = RunConfig(max_epochs=10, seed=0, train=TrainConfig(lr=1e-2, batch_size=64, patience=3, num_threads=1))
LINEAGE = Lineage(data_version="subset", code_version="test", pipeline_run_id="loop")


@pytest.fixture(scope="module")
def checkout(subset_splits: Path, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout holding the subset's classification table, pinned in data/dvc.lock as `dvc repro` pins it."""
    root = tmp_path_factory.mktemp("repo")
    (root / "data" / "splits").mkdir(parents=True)
    table = root / "data" / "splits" / "classification.parquet"
    table.symlink_to(subset_splits / "classification.parquet")
    outs = [{"path": "splits/classification.parquet", "md5": file_md5(table)}]
    (root / "data" / "dvc.lock").write_text(yaml.safe_dump({"stages": {"splits": {"outs": outs}}}))
    return root


@pytest.fixture(scope="module")
def traffic(subset_splits: Path, embedding_cache: Path) -> pd.DataFrame:
    """The example sentences with their synset's labels and split, and their embeddings."""
    queries = pd.read_parquet(subset_splits / "queries.parquet", columns=["synset_id", "text", "split"])
    labels = pd.read_parquet(
        subset_splits / "classification.parquet", columns=["synset_id", "lexname", "domain"]
    )
    rows = queries.merge(labels, on="synset_id").reset_index(drop=True)
    return rows.assign(embedding=list(embed_texts(rows.text.tolist(), embedding_cache)))


def _gate(train: TaskSplit, val: TaskSplit, out: Path) -> Path:
    torch.manual_seed(0)
    return fitting.train_gate(train, val, out, RUN)


def _accuracy(gate_dir: Path, rows: pd.DataFrame) -> float:
    routes = gate_routes(load_served(gate_dir / "model.pt", "gate"), np.stack(rows.embedding))
    return float(np.mean(np.array(routes) == rows.domain.to_numpy()))


def _log(app_db_url: str, gate_dir: Path, rows: pd.DataFrame) -> list[str]:
    """Log `rows` as the gate serves them, each under its own request id; the ids."""
    embeddings = np.stack(rows.embedding)  # (N, 384)
    ids = [f"loop-{uuid.uuid4().hex}" for _ in range(len(rows))]
    routes = gate_routes(load_served(gate_dir / "model.pt", "gate"), embeddings)
    engine = connect(app_db_url)
    log_requests(
        engine,
        [
            LoggedRequest("gate", e, r, 0.9, request_id=i)
            for e, r, i in zip(embeddings, routes, ids, strict=True)
        ],
    )
    engine.dispose()
    return ids


def _drift_check(workspace: Workspace, instance: dg.DagsterInstance, gate_dir: Path, window: int) -> dict:
    config = {"model": "gate", "gate_dir": str(gate_dir), "window": window, "reference_size": 300}
    result = dg.materialize(
        [traffic_drift],
        instance=instance,
        resources={"workspace": workspace},
        run_config={"ops": {"traffic_drift": {"config": config}}},
    )
    (materialization,) = result.asset_materializations_for_node("traffic_drift")
    return {key: value.value for key, value in materialization.metadata.items()}


def _registry(tmp_path: Path, name: str) -> str:
    uri = f"sqlite:///{tmp_path}/{name}.db"
    MlflowClient(uri).create_experiment(EXPERIMENT, artifact_location=str(tmp_path / f"{name}-artifacts"))
    return uri


def _with_traffic(val: TaskSplit, rows: pd.DataFrame) -> TaskSplit:
    """A validation split that also holds the traffic's val-split sentences (the gate's served form)."""
    held = rows[rows.split == "val"]
    return TaskSplit(
        np.concatenate([val.x, np.stack(held.embedding)]),
        np.concatenate([val.synset_id, held.synset_id.to_numpy(str)]),
        np.concatenate([val.lexname, held.lexname.to_numpy(str)]),
        np.concatenate([val.domain, held.domain.to_numpy(str)]),
    )


def test_feedback_on_drifted_traffic_retrains_a_gate_that_serves_it_better(
    checkout: Path,
    traffic: pd.DataFrame,
    embedding_cache: Path,
    pg_server_url: str,
    app_db_url: str,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (home).mkdir()
    (home / "embeddings").symlink_to(embedding_cache)
    workspace = Workspace(checkout, Settings(home=home, database_url=pg_server_url, _env_file=None))
    glosses, _ = build_splits(checkout, embedding_cache)
    champion = _gate(glosses["train"], glosses["val"], tmp_path / "champion")

    # Shifted traffic, served by the champion and logged; the drift check finds it and asks for a retrain.
    labelled = traffic[traffic.split == "train"].sample(LABELLED, random_state=0)
    ids = _log(app_db_url, champion, labelled)
    with dg.DagsterInstance.ephemeral() as instance:
        check = _drift_check(workspace, instance, champion, window=LABELLED)
    assert check["drifted"] and check["requests"] == LABELLED, check
    assert isinstance(retrain_decision(check, event_id=1), dg.RunRequest)

    # Operators label the sample; the retrain job's first asset exports the labels as a versioned file.
    engine = connect(app_db_url)
    for request_id, lexname in zip(ids, labelled.lexname, strict=True):
        feedback.record(engine, request_id, "operator-loop", lexname)
    engine.dispose()
    exported = dg.materialize([gate_feedback], resources={"workspace": workspace})
    (export,) = exported.asset_materializations_for_node("gate_feedback")
    version = feedback.current_version(checkout)
    assert export.metadata["md5"].value == version.md5 and version.rows >= LABELLED

    # The retrain reads the train split with the labels in it; val and test are the glosses' own.
    with_feedback, _ = build_splits(checkout, embedding_cache)
    assert len(with_feedback["train"]) == len(glosses["train"]) + version.rows
    assert len(with_feedback["val"]) == len(glosses["val"])
    retrained = _gate(with_feedback["train"], with_feedback["val"], tmp_path / "retrained")
    unseen = traffic[traffic.split == "test"]  # sentences of synsets no label and no fit saw
    before, after = _accuracy(champion, unseen), _accuracy(retrained, unseen)
    print(
        f"feedback loop: {version.rows} labels; gate accuracy on unseen traffic {before:.3f} -> {after:.3f}"
    )
    assert after > before + 0.05, (before, after)

    # The champion gate moves only when a challenger wins on validation (glosses and the traffic's val
    # sentences): the same gate registered again ties and leaves it; the retrained gate wins and replaces it.
    # (Whether the retrained gate also wins on the glosses alone depends on the gate's shape: not asserted.)
    val, uri = _with_traffic(glosses["val"], traffic), _registry(tmp_path, "loop")
    gate_name = registry.registered_name("gate")
    first = register_candidate(uri, champion, val, LINEAGE, parent_run_id="")
    tie = register_candidate(uri, champion, val, LINEAGE, parent_run_id="")
    assert not tie.promoted and registry.version_for(uri, gate_name, "champion") == first.challenger
    second = register_candidate(uri, retrained, val, LINEAGE, parent_run_id="")
    print(f"feedback loop, validation on glosses and traffic: {second.reason}")  # pytest -s shows the figures
    assert second.promoted and second.challenger_score > second.champion_score, second.reason
    assert registry.version_for(uri, gate_name, "champion") == second.challenger
    _assert_tagged_with(uri, gate_name, second.challenger, version)


def _assert_tagged_with(
    uri: str, gate_name: str, model_version: str, version: feedback.FeedbackVersion
) -> None:
    """What `moe_models` does after a run: the trained versions name the feedback they learnt from."""
    client = MlflowClient(uri)
    summary = {
        "mlflow_run_id": client.get_model_version(gate_name, model_version).run_id,
        "promotions": [{"name": gate_name, "challenger": model_version}],
    }
    feedback.tag_trained(uri, summary, version)
    tags = client.get_model_version(gate_name, model_version).tags
    assert (tags["feedback_version"], tags["feedback_rows"]) == (version.md5, str(version.rows))
    assert client.get_run(summary["mlflow_run_id"]).data.tags["feedback_version"] == version.md5
