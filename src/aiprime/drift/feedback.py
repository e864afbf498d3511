"""Feedback: the right fine class of a logged request, given through the gateway, as training rows.

A label is a lexicographer class (one of the 45 lexnames, `aiprime.data.domains`): it names the answer the
expert should have given, and through the domain table the domain the gate should have chosen, so one label
trains the gate, the expert of its domain and the dense baseline. It is stored in `feedback` (migration
0009) with the request id, the principal who gave it and the gate's logged row, whose embedding is the
training input (the request log keeps no text).

`labelled_rows` reads every label with its embedding; `export` writes them to the checkout's
`data/feedback/gate_feedback.parquet` (what `aiprime.moe.dataset.build_splits` adds to the train split) and
records that file's md5 in `dataset_versions`; `tag_trained` tags every model version a run trained with that
md5 (`feedback_version`), so the registry names the feedback each gate learnt from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from aiprime import versioning
from aiprime.data.domains import load_domains
from aiprime.drift.requests import request_log
from aiprime.errors import DuplicateFeedback, NotFound, UnknownLabel
from aiprime.moe.dataset import file_md5
from aiprime.moe.feedback_rows import COLUMNS, FEEDBACK_TABLE

GATE_MODEL = "gate"  # request_log.model of the gate's rows: the ones a label refers to
DATASET = "gate_feedback"  # dataset_versions.name of the exported file
VERSION_TAG, ROWS_TAG = "feedback_version", "feedback_rows"  # on the model versions a run trained with it
UNIQUE = "uq_feedback_request_principal"

_metadata = sa.MetaData()
feedback = sa.Table(
    "feedback",
    _metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("request_id", sa.Text),
    sa.Column("principal", sa.Text),
    sa.Column("label", sa.Text),
    sa.Column("request_log_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Feedback:
    """One stored label."""

    id: int
    request_id: str
    principal: str
    label: str  # the lexname
    domain: str  # the gate's class it implies
    created_at: datetime


@dataclass(frozen=True)
class FeedbackVersion:
    """An exported feedback dataset: where it is, its md5 (its version) and its row count."""

    path: Path
    md5: str
    rows: int


def labels() -> dict[str, str]:
    """Every valid label (lexname) with the domain it implies, sorted by lexname."""
    table = load_domains().sort_values("lexname")
    return dict(zip(table.lexname, table.domain, strict=True))


def check_label(label: str) -> str:
    """The domain `label` implies.

    Raises:
        UnknownLabel: `label` is not a lexname (the message lists the valid ones).
    """
    valid = labels()
    if label not in valid:
        raise UnknownLabel(
            f"label: {label!r} is not a class. Send one of the {len(valid)} lexnames: {', '.join(valid)}."
        )
    return valid[label]


def record(engine: Engine, request_id: str, principal: str, label: str) -> Feedback:
    """Store `principal`'s label for the gate's logged request `request_id`.

    Raises:
        UnknownLabel: the label is not a class (422).
        NotFound: no gate row of the request log has this request id (404).
        DuplicateFeedback: this principal labelled this request already; nothing is stored (409).
    """
    domain = check_label(label)
    with engine.begin() as conn:
        logged = _gate_row(conn, request_id)
        try:
            row = conn.execute(
                feedback.insert()
                .values(request_id=request_id, principal=principal, label=label, request_log_id=logged)
                .returning(feedback.c.id, feedback.c.created_at)
            ).one()
        except IntegrityError as e:
            if UNIQUE not in str(e.orig):
                raise
            raise DuplicateFeedback(
                f"{principal} labelled request {request_id} already; one label per request and principal is "
                "kept. Ask an operator to correct the stored one if it is wrong."
            ) from e
    return Feedback(row.id, request_id, principal, label, domain, row.created_at)


def _gate_row(conn: sa.Connection, request_id: str) -> int:
    """The id of the gate's first logged row for `request_id`."""
    found = conn.execute(
        sa.select(sa.func.min(request_log.c.id)).where(
            request_log.c.request_id == request_id, request_log.c.model == GATE_MODEL
        )
    ).scalar()
    if found is None:
        raise NotFound(
            f"request_id: no request {request_id!r} of the gate is logged. Send the x-request-id the gateway "
            "answered with; requests are logged only when the gate's request log is on."
        )
    return found


def labelled_rows(engine: Engine) -> pd.DataFrame:
    """Every label with its request's embedding, oldest first: the columns of `COLUMNS`."""
    query = (
        sa.select(feedback.c.id, feedback.c.request_id, feedback.c.label, request_log.c.embedding)
        .join(request_log, request_log.c.id == feedback.c.request_log_id)
        .order_by(feedback.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    implied = labels()
    return pd.DataFrame(
        {
            "feedback_id": [f"feedback:{r.id}" for r in rows],
            "request_id": [r.request_id for r in rows],
            "embedding": [np.asarray(r.embedding, dtype=np.float32) for r in rows],
            "lexname": [r.label for r in rows],
            "domain": [implied[r.label] for r in rows],
        },
        columns=list(COLUMNS),
    )


def export(engine: Engine, root: Path) -> FeedbackVersion:
    """Write every label to `root`'s feedback table and record its md5 in `dataset_versions`."""
    rows = labelled_rows(engine)
    path = root / "data" / FEEDBACK_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.assign(embedding=[e.tolist() for e in rows.embedding]).to_parquet(path, index=False)
    md5 = file_md5(path)
    relative = f"data/{FEEDBACK_TABLE}"
    versioning.record_versions(
        engine, [versioning.DatasetVersion(DATASET, "feedback", relative, md5, len(rows))]
    )
    return FeedbackVersion(path, md5, len(rows))


def current_version(root: Path) -> FeedbackVersion | None:
    """The feedback file the next training run in the checkout `root` reads; None when there is none."""
    path = root / "data" / FEEDBACK_TABLE
    if not path.is_file():
        return None
    return FeedbackVersion(path, file_md5(path), pq.ParquetFile(path).metadata.num_rows)


def tag_trained(tracking_uri: str, summary: dict[str, Any], version: FeedbackVersion | None) -> None:
    """Tag the evaluation run and each model version a training run registered with the feedback it read.

    Args:
        summary: the run's summary (`register`'s output): its `mlflow_run_id` and `promotions`.
        version: what `current_version` returned before the run; None tags the version "none".
    """
    from mlflow import MlflowClient  # only training runs need it, not the gateway that records labels

    tags = {VERSION_TAG: version.md5 if version else "none", ROWS_TAG: str(version.rows if version else 0)}
    client = MlflowClient(tracking_uri)
    for key, value in tags.items():
        client.set_tag(summary["mlflow_run_id"], key, value)
        for promotion in summary["promotions"]:
            client.set_model_version_tag(promotion["name"], promotion["challenger"], key, value)
