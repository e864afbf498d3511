"""Feedback in PostgreSQL: stored once per request and principal, read back with its request's embedding,
exported as a versioned file that the train split (and only it) gains."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from aiprime.db.engine import connect
from aiprime.drift import feedback
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.errors import DuplicateFeedback, NotFound, UnknownLabel
from aiprime.moe.dataset import TaskSplit, file_md5
from aiprime.moe.feedback_rows import FEEDBACK_TABLE, appended


@pytest.fixture
def engine(app_db_url: str):
    engine = connect(app_db_url)
    yield engine
    engine.dispose()


def _log(engine, model: str = "gate") -> tuple[str, np.ndarray]:
    """A logged request of `model`; its id and embedding."""
    request_id = f"req-{uuid.uuid4().hex}"
    embedding = np.random.default_rng(len(request_id)).normal(size=384).astype(np.float32)
    log_requests(engine, [LoggedRequest(model, embedding, "living", 0.8, request_id=request_id)])
    return request_id, embedding


def test_a_label_is_stored_with_who_gave_it_and_read_back_with_the_requests_embedding(engine) -> None:
    request_id, embedding = _log(engine)
    stored = feedback.record(engine, request_id, "alice", "verb.motion")
    assert (stored.principal, stored.label, stored.domain) == ("alice", "verb.motion", "actions")
    rows = feedback.labelled_rows(engine).set_index("request_id").loc[[request_id]]
    assert rows.lexname.tolist() == ["verb.motion"] and rows.domain.tolist() == ["actions"]
    np.testing.assert_allclose(rows.embedding.iloc[0], embedding, rtol=1e-6)


def test_the_database_refuses_a_second_label_of_one_principal_whoever_writes_sql(engine) -> None:
    request_id, _ = _log(engine)
    feedback.record(engine, request_id, "bob", "noun.animal")
    with pytest.raises(DuplicateFeedback, match="bob labelled request"):
        feedback.record(engine, request_id, "bob", "noun.plant")
    insert = sa.text(
        "INSERT INTO feedback (request_id, principal, label, request_log_id) "
        "SELECT request_id, principal, 'noun.plant', request_log_id FROM feedback WHERE request_id = :r"
    )
    with pytest.raises(IntegrityError, match=feedback.UNIQUE), engine.begin() as conn:
        conn.execute(insert, {"r": request_id})
    feedback.record(engine, request_id, "carol", "noun.plant")
    count = sa.text("SELECT count(*) FROM feedback WHERE request_id = :r")
    with engine.connect() as conn:
        assert conn.execute(count, {"r": request_id}).scalar() == 2


def test_unknown_requests_and_labels_are_refused_naming_the_field(engine) -> None:
    expert_only, _ = _log(engine, model="expert-living")
    with pytest.raises(NotFound, match="^request_id: no request"):
        feedback.record(engine, expert_only, "alice", "noun.animal")  # the label needs the gate's row
    request_id, _ = _log(engine)
    with pytest.raises(UnknownLabel, match="^label: 'noun.unicorn' is not a class.*noun.animal"):
        feedback.record(engine, request_id, "alice", "noun.unicorn")
    assert request_id not in feedback.labelled_rows(engine).request_id.tolist()


def test_the_export_is_versioned_and_joins_the_train_split_only(engine, tmp_path: Path) -> None:
    request_id, _ = _log(engine)
    feedback.record(engine, request_id, "dave", "noun.food")
    version = feedback.export(engine, tmp_path)
    assert version.path == tmp_path / "data" / FEEDBACK_TABLE and version.md5 == file_md5(version.path)
    with engine.connect() as conn:
        recorded = conn.execute(
            sa.text("SELECT rows FROM dataset_versions WHERE name = :n AND dvc_md5 = :m"),
            {"n": feedback.DATASET, "m": version.md5},
        ).scalar()
    assert recorded == version.rows == len(pd.read_parquet(version.path))
    assert feedback.export(engine, tmp_path).md5 == version.md5, "the same labels give the same version"

    train = TaskSplit(
        np.zeros((2, 384), np.float32), np.array(["s1", "s2"]), np.array(["a", "b"]), np.array(["x", "y"])
    )
    grown = appended(train, tmp_path)
    assert len(grown) == 2 + version.rows
    mine = list(grown.lexname[2:]).index("noun.food") + 2
    assert grown.domain[mine] == "living" and grown.synset_id[mine].startswith("feedback:")
    assert appended(train, tmp_path / "elsewhere") is train, "no feedback file: the split is unchanged"
