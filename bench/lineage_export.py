"""How long `aiprime lineage MODEL@VERSION` takes to build and write its PROV document; the target is <= 2 s.

It starts an embedded PostgreSQL and MLflow in a temp folder, reproduces the DVC pipeline over the real
sources (`--limit 0`: all of them, as `make run` does; the raw stage then has the 504 files of the full run),
registers a model version tagged as the training pipeline tags it, and times `model_lineage` plus the
serialisation, for each format, as the median of `--repeats` runs; then one `aiprime lineage` command.

    python bench/lineage_export.py [--limit 0] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _loopback import free_port

from aiprime import versioning
from aiprime.provenance import document, export
from aiprime.registry import mlflow_registry as registry
from aiprime.services import stack
from aiprime.settings import Settings
from aiprime.training.registration import Lineage

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 2.0  # issue 17: export <= 2 s


def subset_checkout(root: Path, limit: int) -> Path:
    """The tests' DVC checkout over a `limit`-entry subset of the sources (tests/conftest.py)."""
    sys.path.insert(0, str(REPO / "tests"))  # conftest imports tests/_helpers
    from conftest import _subset_checkout

    return _subset_checkout(root, limit)


def registered_version(settings: Settings, root: Path, folder: Path) -> str:
    """A version of aiprime-gate with the lineage tags of a model trained on `root`'s classification table."""
    from mlflow import MlflowClient

    client = MlflowClient(settings.mlflow_url)
    run = client.create_run(client.create_experiment("aiprime-lineage-bench")).info.run_id
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    data_version = versioning.stage_outs(root, "splits")["splits/classification.parquet"]
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"weights")
    tags = Lineage(data_version, sha, "bench-kfp-run").tags() | {"role": "gate"}
    return registry.register(settings.mlflow_url, "aiprime-gate", folder, run, tags)


def export_seconds(where: document.Sources, version: str, fmt: str, repeats: int) -> tuple[float, int, int]:
    """Median seconds of building and serialising the document; its record count and missing links."""
    times, lineage = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        lineage = document.model_lineage(where, "aiprime-gate", version)
        export.serialize(lineage.document, fmt)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(lineage.document.get_records()), len(lineage.missing)


def cli_seconds(settings: Settings, root: Path, version: str) -> float:
    """Wall seconds of one `aiprime lineage aiprime-gate@VERSION --out FILE` in the checkout."""
    env = {
        **os.environ,
        "AIPRIME_HOME": str(settings.home),
        "AIPRIME_MLFLOW_TRACKING_URI": settings.mlflow_url,
    }
    command = [
        str(Path(sys.executable).parent / "aiprime"),
        "lineage",
        f"aiprime-gate@{version}",
        "--out",
        "lineage.json",
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="entries per source; 0: all (as make run)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aiprime-bench-lineage-"))
    settings = Settings(home=home / "home", mlflow_port=free_port(), _env_file=None)
    root = subset_checkout(home / "repo", args.limit)
    versioning.reproduce(root)
    stack.up(settings)
    try:
        version = registered_version(settings, root, home / "model")
        where = document.Sources(settings.mlflow_url, root, (root / ".dvc" / "cache",), settings)
        for fmt in ("prov-json", "provn", "ttl"):
            seconds, records, missing = export_seconds(where, version, fmt, args.repeats)
            print(
                f"{fmt:9s} {seconds:6.3f} s median of {args.repeats} ({records} records, {missing} missing): "
                f"{seconds / BUDGET_S:.2f}x the {BUDGET_S:g} s budget"
            )
        print(
            f"aiprime lineage (a new process, imports included) {cli_seconds(settings, root, version):.3f} s"
        )
    finally:
        stack.down(settings)


if __name__ == "__main__":
    main()
