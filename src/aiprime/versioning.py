"""Data versioning with DVC: reproduce the stages in `data/dvc.yaml`, push them, read their hashes.

Every dataset version is the md5 that DVC records in `data/dvc.lock`; `record_versions` copies those into
PostgreSQL so that models can be tagged with the exact data they were trained on.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from aiprime.errors import ConfigError, NotFound, StageFailed

STAGES = ("raw", "processed", "splits")


@dataclass(frozen=True)
class DatasetVersion:
    """One versioned table: a parquet output of a DVC stage, with its hash and row count."""

    name: str
    stage: str
    path: str
    dvc_md5: str
    rows: int


def find_repo_root(start: Path) -> Path:
    """The AI Prime checkout that contains `start` (the folder holding `.dvc/` and `data/dvc.yaml`)."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / ".dvc").is_dir() and (folder / "data" / "dvc.yaml").is_file():
            return folder
    raise NotFound(
        f"No AI Prime checkout (a folder with .dvc/ and data/dvc.yaml) contains {start}. "
        "Run this command from inside the repository."
    )


def dvc(root: Path, *args: str) -> str:
    """Run one DVC command in `root` with this environment's `aiprime` on PATH; return its output."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise StageFailed(f"`dvc {' '.join(args)}` failed: {_last_error(proc.stderr + proc.stdout)}")
    return proc.stdout


def _last_error(output: str) -> str:
    """The most useful line of a failed DVC run: our own `error:` line if a stage printed one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    ours = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    return (ours or lines or ["no output"])[-1]


def reproduce(root: Path, on_stage: Callable[[str], None] = lambda stage: None) -> None:
    """Run `dvc repro` stage by stage (each is skipped by DVC when its inputs did not change)."""
    for stage in STAGES:
        on_stage(stage)
        dvc(root, "repro", "--single-item", f"data/dvc.yaml:{stage}")


def push(root: Path) -> None:
    """Push the cached outputs to the default DVC remote (a folder under `.aiprime/` unless configured)."""
    dvc(root, "push", "--quiet")


def stage_outs(root: Path, stage: str) -> dict[str, str]:
    """The md5 of each output of `stage` in `data/dvc.lock`, keyed by its path relative to `data/`."""
    lock_file = root / "data" / "dvc.lock"
    if not lock_file.is_file():
        raise NotFound(f"{lock_file} does not exist yet. Run `aiprime data ingest` first.")
    spec = yaml.safe_load(lock_file.read_text()).get("stages", {}).get(stage)
    if spec is None:
        raise NotFound(f"Stage {stage!r} has not run yet (not in {lock_file}). Run `aiprime data ingest`.")
    return {out["path"]: out["md5"] for out in spec.get("outs", [])}


def fingerprint(paths: list[Path]) -> str:
    """A sha256 over the names and contents of files (folders are walked in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    for file in files:
        digest.update(str(file).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_versions(root: Path) -> list[DatasetVersion]:
    """The parquet outputs recorded in `data/dvc.lock`, with their md5 and row counts."""
    lock_file = root / "data" / "dvc.lock"
    if not lock_file.is_file():
        raise NotFound(f"{lock_file} does not exist yet. Run `aiprime data ingest` first.")
    lock = yaml.safe_load(lock_file.read_text())
    versions = []
    for stage, spec in lock.get("stages", {}).items():
        for out in spec.get("outs", []):
            path = root / "data" / out["path"]
            if path.suffix == ".parquet":
                versions.append(
                    DatasetVersion(path.stem, stage, f"data/{out['path']}", out["md5"], _rows(path))
                )
    return versions


def _rows(path: Path) -> int:
    if not path.exists():
        raise NotFound(
            f"{path} is recorded in dvc.lock but missing. Run `dvc pull` or `aiprime data ingest`."
        )
    return pq.ParquetFile(path).metadata.num_rows


def record_versions(engine: Engine, versions: list[DatasetVersion]) -> int:
    """Insert the versions that are new (keyed by name and md5); return how many were new."""
    table = sa.table(
        "dataset_versions", *(sa.column(c) for c in ("name", "stage", "path", "dvc_md5", "rows"))
    )
    from sqlalchemy.dialects.postgresql import insert

    rows = [v.__dict__ for v in versions]
    if not rows:
        return 0
    stmt = (
        insert(table)
        .values(rows)
        .on_conflict_do_nothing(constraint="uq_dataset_versions_name_md5")
        .returning(table.c.name)
    )
    with engine.begin() as conn:
        return len(conn.execute(stmt).all())


def load_params(root: Path) -> dict:
    """The DVC parameters (`data/params.yaml`), validated."""
    params = yaml.safe_load((root / "data" / "params.yaml").read_text()) or {}
    if not isinstance(params.get("limit"), int) or params["limit"] < 0:
        raise ConfigError("data/params.yaml: `limit` must be an integer >= 0 (0 means every entry).")
    return params


def ingest(
    root: Path, engine: Engine, on_stage: Callable[[str], None] = lambda stage: None
) -> list[DatasetVersion]:
    """Reproduce and push the DVC data pipeline of the checkout at `root`, then record every dataset version.

    Args:
        root: The checkout holding `data/dvc.yaml` and `params.yaml`.
        engine: The `aiprime` database (`aiprime.db.engine.open_app_db`), migrated.
        on_stage: Called with each DVC stage's name as it runs, then with "push".
    """
    load_params(root)
    reproduce(root, on_stage)
    on_stage("push")
    push(root)
    versions = read_versions(root)
    record_versions(engine, versions)
    return versions
