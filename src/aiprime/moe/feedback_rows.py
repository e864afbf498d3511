"""Labels people gave through the gateway (`POST /v1/feedback`), as extra training rows of the task.

`aiprime.drift.feedback.export` writes them to `data/feedback/gate_feedback.parquet` of the checkout: one
row per label with the request's logged embedding, its lexname and the domain that implies. `appended` adds
them to the train split, never to val or test, so a model trained with feedback is still judged on the
same validation rows as the champion it must beat.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

FEEDBACK_TABLE = "feedback/gate_feedback.parquet"  # under data/
COLUMNS = ("feedback_id", "request_id", "embedding", "lexname", "domain")
Split = TypeVar("Split")  # aiprime.moe.dataset.TaskSplit (which imports this module)


def appended(train: Split, root: Path) -> Split:
    """`train` (a TaskSplit) followed by the feedback rows of the checkout `root`; itself when it has none."""
    path = root / "data" / FEEDBACK_TABLE
    if not path.is_file():
        return train
    rows = pd.read_parquet(path, columns=list(COLUMNS))
    if rows.empty:
        return train
    x = np.stack([np.asarray(e, dtype=np.float32) for e in rows.embedding])  # (F, 384)
    given = type(train)(
        x, rows.feedback_id.to_numpy(str), rows.lexname.to_numpy(str), rows.domain.to_numpy(str)
    )  # the request log keeps the text's embedding alone: each row is its own word
    return train.join(given)
