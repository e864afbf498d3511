"""The stored facts that provenance is built from; nothing here infers or guesses a link.

Each reader returns what it found, or None when the fact is not stored; `document` reports those as missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy.engine import Engine

from aiprime.drift.requests import request_log
from aiprime.errors import AuditChainBroken, NotFound
from aiprime.rag import store
from aiprime.registry.mlflow_plugins import skip_unwanted_header_providers
from aiprime.security import audit


@dataclass(frozen=True)
class ModelVersionFacts:
    """A registered model version as MLflow stores it."""

    name: str  # the registered model, e.g. aiprime-gate
    version: str
    tags: dict[str, str]  # data_version, code_version, pipeline_run_id, role, fingerprint, ...
    run_id: str | None  # the MLflow run that registered it
    run_tags: dict[str, str] = field(default_factory=dict)  # that run's tags (mlflow.parentRunId, ...)
    experiment: str | None = None  # the MLflow experiment of that run: the pipeline's name


@dataclass(frozen=True)
class DvcOutput:
    """One output of a DVC stage as `data/dvc.lock` records it."""

    stage: str
    path: str  # relative to data/
    md5: str  # ends in `.dir` for a folder
    deps: tuple[tuple[str, str], ...]  # (path, md5) of each dependency of the stage


def model_version(tracking_uri: str, name: str, version: str) -> ModelVersionFacts:
    """The tags, run and experiment of `name` version `version`.

    Raises:
        NotFound: MLflow has no such version (never registered, or deleted).
    """
    skip_unwanted_header_providers()
    client = MlflowClient(tracking_uri)
    try:
        found = client.get_model_version(name, version)
    except MlflowException as e:
        raise NotFound(
            f"MLflow at {tracking_uri} has no version {version} of {name} (deleted, or never registered). "
            f"List the versions with the MLflow UI, or `aiprime lineage {name}@<version>` for another."
        ) from e
    run_tags, experiment = {}, None
    if found.run_id:
        try:
            run = client.get_run(found.run_id)
            run_tags = dict(run.data.tags)
            experiment = client.get_experiment(run.info.experiment_id).name
        except MlflowException:
            pass  # the run was deleted: `document` reports the training run as missing
    return ModelVersionFacts(name, str(found.version), dict(found.tags), found.run_id, run_tags, experiment)


def dvc_outputs(root: Path) -> list[DvcOutput] | None:
    """Every output recorded in `root/data/dvc.lock`, or None when there is no lock file."""
    lock_file = root / "data" / "dvc.lock"
    if not lock_file.is_file():
        return None
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    return [
        DvcOutput(stage, out["path"], out["md5"], tuple((d["path"], d["md5"]) for d in spec.get("deps", [])))
        for stage, spec in stages.items()
        for out in spec.get("outs", [])
    ]


def dir_manifest(caches: list[Path], md5: str) -> list[tuple[str, str]] | None:
    """The (relative path, md5) of each file of a DVC folder output `md5` (`<hash>.dir`), from the first of
    `caches` (DVC caches or remotes, DVC 3 layout) that holds its manifest; None when none does."""
    digest = md5.removesuffix(".dir")
    for cache in caches:
        manifest = cache / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir"
        if manifest.is_file():
            return [(entry["relpath"], entry["md5"]) for entry in json.loads(manifest.read_text())]
    return None


def audit_rows(engine: Engine, request_id: str) -> list[audit.AuditRow]:
    """The gateway's audit rows of one request, oldest first (empty when it never reached the gateway).

    Raises:
        AuditChainBroken: a row no longer matches its hash (altered after it was written). A row altered
            and re-hashed shows only in the whole chain: `aiprime audit verify`.
    """
    with engine.connect() as conn:
        rows = audit.read(conn, limit=1000, request_id=request_id)
    for row in rows:
        if audit.chain_hash(row.prev_hash, row.seq, row.entry) != row.hash:
            raise AuditChainBroken(
                f"Audit row {row.seq} of request {request_id!r} does not match its hash: it was altered after "
                "the gateway wrote it, so its user and action are not facts. Run `aiprime audit verify` and "
                "restore the audit log from a backup (`aiprime backup restore`)."
            )
    return rows


@dataclass(frozen=True)
class GateDecision:
    """One row of the request log: what the gate chose for one text of a request, and which version chose."""

    row_id: int
    server: str  # the server that logged it (request_log.model)
    expert: str
    probability: float
    model_version: str | None  # NAME@VERSION; None when the server served a local folder


def gate_decisions(engine: Engine, request_id: str) -> list[GateDecision]:
    """The request log's rows of one request, in the order logged."""
    t = request_log.c
    query = sa.select(t.id, t.model, t.expert, t.expert_probability, t.model_version).where(
        t.request_id == request_id
    )
    with engine.connect() as conn:
        return [GateDecision(*row) for row in conn.execute(query.order_by(t.id))]


def named_in_audit(rows: list[audit.AuditRow], key: str, kind: type) -> list:
    """The values of type `kind` that the gateway's audit rows of one request list under `key` of their detail
    (what the answer said served it: `model_versions`, `chunk_ids`), in order without repeats."""
    listed = [row.entry.detail.get(key) for row in rows]
    values = [v for found in listed if isinstance(found, list) for v in found]
    return list(dict.fromkeys(v for v in values if isinstance(v, kind) and not isinstance(v, bool)))


@dataclass(frozen=True)
class StoredChunk:
    """A chunk of the retrieval store, with the document it was cut from."""

    chunk_id: int
    content_hash: str
    doc_id: str
    data_version: str | None  # the DVC md5 of the documents table the document was ingested from


def stored_chunks(engine: Engine, chunk_ids: list[int]) -> dict[int, StoredChunk]:
    """The chunks of `chunk_ids` that the store still holds, by id (a re-ingested document has new ones)."""
    c, d = store.chunks.c, store.documents.c
    query = (
        sa.select(c.id, c.content_hash, d.doc_id, d.data_version)
        .join_from(store.chunks, store.documents, c.document_id == d.id)
        .where(c.id.in_(chunk_ids))
    )
    with engine.connect() as conn:
        return {row.id: StoredChunk(*row) for row in conn.execute(query)}
