"""Backups for real: a champion model and a pgvector search survive the loss of the whole state."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from aiprime import backup
from aiprime.cli import app
from aiprime.db.engine import connect, current_revisions
from aiprime.db.urls import app_db_url, database_url
from aiprime.errors import DataCorrupt, InvalidInput, NotFound
from aiprime.services import stack
from aiprime.settings import Settings

WEIGHTS = bytes(range(256)) * 64  # the champion's artifact, 16 KiB
DVC_OBJECT = Path("files/md5/3f/9a2c0d4e")  # a file in the DVC remote, as DVC lays them out
QUERY = "[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]"


@pytest.fixture
def outside(settings: Settings) -> Iterator[tuple[Settings, Path]]:
    """`settings` with its home in a scratch folder outside pytest's temp tree, and that folder.

    The embedded server runs as the `pgserver` user when the tests run as root, and pytest sessions running
    beside this one reset that tree to mode 0700 (see `pg_server_url` in conftest.py).
    """
    scratch = Path(tempfile.mkdtemp(prefix="aiprime-test-backup-"))
    yield settings.model_copy(update={"home": scratch / "home"}), scratch
    shutil.rmtree(scratch, ignore_errors=True)


def _register_champion(settings: Settings, tmp_path: Path) -> str:
    """Two versions of the model `gate`, each with a weights file; alias `champion` on the second."""
    client = MlflowClient(settings.mlflow_url)
    (tmp_path / "weights.bin").write_bytes(WEIGHTS)
    client.create_registered_model("gate")
    for _ in range(2):
        run = client.create_run(client.get_experiment_by_name("Default").experiment_id)
        client.log_artifact(run.info.run_id, str(tmp_path / "weights.bin"), "model")
        version = client.create_model_version("gate", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("gate", "champion", version.version)
    return version.version


def _champion(settings: Settings, dst: Path) -> tuple[str, bytes]:
    """The champion's version and the bytes of its weights file, downloaded through the MLflow server."""
    client = MlflowClient(settings.mlflow_url, registry_uri=settings.mlflow_url)
    version = client.get_model_version_by_alias("gate", "champion").version
    uri = client.get_model_version_download_uri("gate", version)
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=str(dst), tracking_uri=settings.mlflow_url
    )
    return version, (Path(folder) / "weights.bin").read_bytes()


def _store_vectors(settings: Settings) -> None:
    """500 random 8-dim vectors in the `aiprime` database, with an HNSW index."""
    rng = random.Random(7)
    rows = [{"id": i, "v": json.dumps([rng.random() for _ in range(8)])} for i in range(500)]
    engine = connect(database_url(stack.server_url(settings), "aiprime"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (id int PRIMARY KEY, embedding vector(8) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO probe VALUES (%(id)s, %(v)s::vector)", rows)
        conn.exec_driver_sql("CREATE INDEX probe_hnsw ON probe USING hnsw (embedding vector_l2_ops)")
    engine.dispose()


def _nearest(settings: Settings) -> tuple[list[int], str]:
    """The ten nearest neighbours of QUERY, and the query plan that found them."""
    sql = f"SELECT id FROM probe ORDER BY embedding <-> '{QUERY}' LIMIT 10"
    engine = connect(app_db_url(settings))
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {sql}").scalars())
        ids = list(conn.exec_driver_sql(sql).scalars())
    engine.dispose()
    return ids, plan


def _state(settings: Settings, tmp_path: Path) -> tuple:
    """Everything the test compares: champion version and bytes, search results, the DVC object."""
    dst = tmp_path / f"download-{time.monotonic_ns()}"
    return (
        *_champion(settings, dst),
        _nearest(settings)[0],
        (settings.dvc_remote_dir / DVC_OBJECT).read_bytes(),
    )


def _assert_manifest_describes(folder: Path, settings: Settings) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {p["name"] for p in manifest["parts"]} == {
        "aiprime",
        "mlflow",
        "dagster",
        "feast",
        "mlflow-artifacts",
        "dvc-remote",
    }
    assert manifest["pgvector"].startswith("0.8") and manifest["postgresql"].startswith("18")
    app_db = next(p for p in manifest["parts"] if p["name"] == "aiprime")
    assert set(app_db["details"]["alembic_revisions"]) == current_revisions(
        database_url(stack.server_url(settings), "aiprime")
    )


def _lose_everything(settings: Settings) -> None:
    stack.down(settings)
    for folder in (settings.pg_dir, settings.mlflow_artifacts_dir, settings.dvc_remote_dir):
        shutil.rmtree(folder)


def _damaged_copy(source: Path, into: Path) -> Path:
    """A copy of a backup folder with one byte of its `aiprime` dump flipped."""
    copy = shutil.copytree(source, into / source.name)
    dump = copy / "db" / "aiprime.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    return copy


@pytest.mark.slow
def test_restore_brings_back_the_champion_and_the_vector_search_and_refuses_a_damaged_backup(outside) -> None:
    settings, tmp_path = outside
    try:
        stack.up(settings)
        champion = _register_champion(settings, tmp_path)
        _store_vectors(settings)
        (settings.dvc_remote_dir / DVC_OBJECT).parent.mkdir(parents=True)
        (settings.dvc_remote_dir / DVC_OBJECT).write_bytes(b"dvc object\n")
        before = _state(settings, tmp_path)
        assert before[:2] == (champion, WEIGHTS) and len(before[2]) == 10

        started = time.perf_counter()
        folder = backup.create(settings, out=tmp_path / "backups")
        created = time.perf_counter() - started
        archive = backup.create(settings, out=tmp_path / "backups", archive=True)
        _assert_manifest_describes(folder, settings)

        _lose_everything(settings)
        started = time.perf_counter()
        backup.restore(settings, archive)
        restored = time.perf_counter() - started
        assert _state(settings, tmp_path) == before
        assert "probe_hnsw" in _nearest(settings)[1]
        print(
            f"\nbackup {created:.1f} s, {backup.describe(folder).bytes / 1e3:.0f} kB; "
            f"restore {restored:.1f} s, from a {archive.stat().st_size / 1e3:.0f} kB archive"
        )

        with pytest.raises(InvalidInput, match="--yes"):
            backup.restore(settings, folder)
        with pytest.raises(DataCorrupt, match="aiprime.dump has the right size but another sha256"):
            backup.restore(settings, _damaged_copy(folder, tmp_path), yes=True)
        truncated = tmp_path / archive.name
        truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
        with pytest.raises(DataCorrupt, match="truncated"):
            backup.restore(settings, truncated, yes=True)
        assert {s.name: s.running for s in stack.status(settings)} == {"postgresql": True, "mlflow": True}
        assert _state(settings, tmp_path) == before
        assert [b.path for b in backup.list_backups(tmp_path / "backups")] == [folder, archive]
    finally:
        stack.down(settings)
        mlflow.set_tracking_uri(None)


def test_a_damaged_backup_is_one_line_and_touches_nothing(tmp_path: Path, monkeypatch) -> None:
    damaged = tmp_path / "aiprime-backup-20260101T000000Z"
    (damaged / "db").mkdir(parents=True)
    (damaged / "db" / "aiprime.dump").write_bytes(b"half a dump")
    part = {"kind": "database", "name": "aiprime", "path": "db/aiprime.dump", "bytes": 22, "sha256": "0" * 64}
    (damaged / "manifest.json").write_text(
        json.dumps({"format": 1, "created_at": "2026-01-01T00:00:00+00:00", "parts": [part]})
    )
    monkeypatch.setenv("AIPRIME_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["backup", "restore", str(damaged), "--yes"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "db/aiprime.dump has 11 bytes (the manifest says 22 bytes" in result.output
    assert not (tmp_path / "home" / "pg").exists()


def test_list_shows_each_backup_and_marks_an_unreadable_one(tmp_path: Path) -> None:
    good, bad = (
        tmp_path / "aiprime-backup-20260101T000000Z",
        tmp_path / "aiprime-backup-20260102T000000Z.tar.gz",
    )
    good.mkdir()
    (good / "manifest.json").write_text(
        json.dumps({"created_at": "2026-01-01T00:00:00+00:00", "parts": [{"name": "aiprime"}]})
    )
    bad.write_bytes(b"not a gzip file")
    infos = backup.list_backups(tmp_path)
    assert [(i.path, i.parts, i.problem is None) for i in infos] == [
        (good, ("aiprime",), True),
        (bad, (), False),
    ]
    assert backup.list_backups(tmp_path / "absent") == []


def test_backing_up_an_empty_home_says_to_start_the_services(settings: Settings) -> None:
    with pytest.raises(NotFound, match="aiprime services up"):
        backup.create(settings)
    assert not settings.pg_dir.exists()
