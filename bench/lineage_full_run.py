"""Provenance over a whole `make run` home, counted: the PROV chain of every registered model version and
every logged request (`bench/lineage_export.py` times one synthetic version instead).

For each version MLflow lists and each request id the gateway's audit log or the gate's request log holds,
it builds the lineage as `aiprime lineage` does (`aiprime.cli.lineage.build`) and serialises it to
PROV-JSON, timing the two together (wall and CPU). It prints, per kind: how many chains resolved with no
missing link, how many reach hashed source files (a `File` entity with an md5), the missing links grouped by
what they link to, and the export time's p50 and p95 (target <= 2 s). Request-log rows without a request id
are counted apart: no lineage can name them.

Usage: AIPRIME_HOME=.../.aiprime AIPRIME_MLFLOW_PORT=N python bench/lineage_full_run.py --root CHECKOUT
(services up on that home: `aiprime services up`; CHECKOUT holds the run's data/dvc.lock and .dvc/cache)
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from mlflow import MlflowClient

from aiprime.db.engine import open_app_db
from aiprime.drift.requests import request_log
from aiprime.provenance import document, export
from aiprime.settings import Settings

FILE_TYPE = "aiprime:File"


def model_targets(tracking_uri: str) -> list[tuple[str, str]]:
    """(registered name, version) of every model version MLflow holds."""
    client = MlflowClient(tracking_uri)
    return [(v.name, str(v.version)) for v in client.search_model_versions(max_results=10_000)]


def request_targets(engine: sa.Engine) -> tuple[list[str], int]:
    """Every request id in the audit log or the request log, and the request-log rows that have none."""
    audited = sa.text("SELECT DISTINCT request_id FROM gateway.audit_log WHERE request_id IS NOT NULL")
    t = request_log.c
    with engine.connect() as conn:
        ids = {row[0] for row in conn.execute(audited)}
        ids |= {row[0] for row in conn.execute(sa.select(t.request_id).where(t.request_id.is_not(None)))}
        unnamed = conn.execute(sa.select(sa.func.count()).where(t.request_id.is_(None))).scalar_one()
    return sorted(ids), int(unnamed)


def export_one(build) -> tuple[document.Lineage, float, float]:
    """Build and serialise one lineage: it, and the wall and CPU seconds both took."""
    start, cpu = time.perf_counter(), time.process_time()
    lineage = build()
    text = export.serialize(lineage.document, "prov-json")
    assert text
    return lineage, time.perf_counter() - start, time.process_time() - cpu


def report(kind: str, results: list[tuple[document.Lineage, float, float]], failed: list[str]) -> None:
    """Print one kind's counts, missing links and export times."""
    resolved = sum(not lineage.missing for lineage, _, _ in results)
    to_files = sum(FILE_TYPE in export.serialize(lineage.document, "prov-json") for lineage, _, _ in results)
    missing = Counter(m.link.split(" -> ")[-1] if " -> " in m.link else m.link.split(" ")[0]
                      for lineage, _, _ in results for m in lineage.missing)  # fmt: skip
    wall, cpu = [r[1] for r in results] or [0.0], [r[2] for r in results] or [0.0]
    print(
        f"{kind}: {len(results) + len(failed)} chains, {resolved} resolved with no missing link, {to_files} "
        f"reach hashed source files, {len(failed)} failed; export wall p50 {np.percentile(wall, 50):.2f} s "
        f"p95 {np.percentile(wall, 95):.2f} s, CPU p95 {np.percentile(cpu, 95):.2f} s "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    for link, count in missing.most_common():
        print(f"  missing -> {link}: {count}")
    for reason in failed:
        print(f"  failed: {reason}")


def run(kind: str, targets: list, build) -> None:
    """Export every target of one kind and report it."""
    results, failed = [], []
    for target in targets:
        try:
            results.append(export_one(lambda t=target: build(t)))
        except Exception as e:  # noqa: BLE001 - a chain that fails to build is counted and named
            failed.append(f"{target}: {e}")
    report(kind, results, failed)


def main() -> None:
    """Count and time the lineage of every model version and request of the home in the environment."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="The checkout that ran `make run`.")
    args = parser.parse_args()
    settings = Settings()
    where = document.Sources.of(settings, args.root)
    engine = open_app_db(settings)
    run("model versions", model_targets(where.tracking_uri), lambda t: document.model_lineage(where, *t))
    ids, unnamed = request_targets(engine)
    run("requests", ids, lambda request_id: document.request_lineage(where, engine, request_id))
    print(f"request-log rows without a request id (no lineage can name them): {unnamed}")


if __name__ == "__main__":
    main()
