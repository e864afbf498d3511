"""The console's routes on a real gateway and PostgreSQL: its page, its permission, lineage, models, login."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from _helpers import free_port
from _helpers.console import PASSWORD, Console, console_upstream, start_console
from mlflow import MlflowClient

from aiprime.db.engine import connect
from aiprime.drift.requests import LoggedRequest, log_requests
from aiprime.gateway.console import ASSETS
from aiprime.gateway.console.access import console_login
from aiprime.gateway.console.catalog import drift_status
from aiprime.observability.jobmetrics import DriftMetrics, publish
from aiprime.registry import mlflow_registry as registry
from aiprime.security import audit

MAX_PAGE_BYTES = 1_000_000  # the page weight over the wire


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with console_upstream() as url:
        yield url


@pytest.fixture(scope="module")
def console(app_db_url: str, upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console whose MLflow does not answer (nothing listens on its port)."""
    started = start_console(
        app_db_url, tmp_path_factory.mktemp("console"), upstream, f"http://127.0.0.1:{free_port()}"
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def console_with_mlflow(
    app_db_url: str, upstream: str, mlflow_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    started = start_console(app_db_url, tmp_path_factory.mktemp("console-mlflow"), upstream, mlflow_url)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def viewer(principals) -> str:
    return principals.user(PASSWORD, "viewer")


def test_the_page_is_served_with_its_own_files_only_and_weighs_under_1_mb(console) -> None:
    with console.client() as client:
        page = client.get("/console/")
        files = {name: client.get(f"/console/{name}") for name in ASSETS}
        outside = client.get("/console/../../pyproject.toml")
        redirect = client.get("/console", follow_redirects=False)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    referenced = set(re.findall(r'(?:src|href)="([^"#]+)"', page.text))
    assert referenced == {"style.css", "app.js"}, (
        "the page loads its own two files and nothing from elsewhere"
    )
    assert all(answer.status_code == 200 for answer in files.values())
    named = [re.sub(rb"http://www\.w3\.org/2000/svg", b"", a.content) for a in files.values()]  # a name only
    assert not any(re.search(rb"https?://", content) for content in named), "no address outside"
    assert sum(len(a.content) for a in files.values()) <= MAX_PAGE_BYTES
    assert outside.status_code == 404
    assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"


def test_console_routes_need_the_console_permission(console, principals, viewer) -> None:
    auditor = principals.user(PASSWORD, "auditor")
    with console.client() as anonymous:
        assert anonymous.get("/v1/console/links").status_code == 401
    with console.client(console.login(auditor)) as client:
        refused = client.get("/v1/console/links")
    with console.client(console.login(viewer)) as client:
        allowed = client.get("/v1/console/links")
    assert refused.status_code == 403
    assert (
        "'console'" in refused.json()["error"]["message"] and "viewer" in refused.json()["error"]["message"]
    )
    assert allowed.status_code == 200
    assert allowed.json()["user"] == viewer and "console" in allowed.json()["permissions"]
    assert allowed.json()["mlflow_url"] == console.settings.mlflow_url


def test_console_calls_are_audited_under_the_user(console, viewer, app_db_url: str) -> None:
    with console.client(console.login(viewer)) as client:
        request_id = client.get("/v1/console/links").headers["x-request-id"]
    console.flush_audit()
    with connect(app_db_url).connect() as conn:
        rows = audit.read(conn, limit=10, request_id=request_id)
    assert [(r.entry.actor, r.entry.resource, r.entry.decision) for r in rows] == [
        (viewer, "console", "allow")
    ]


def test_an_answers_lineage_is_a_graph_of_its_request_user_and_missing_links(console, viewer) -> None:
    with console.client(console.login(viewer)) as client:
        asked = client.post("/v1/ask", json={"question": "what does a python function return?"})
        console.flush_audit()
        graph = client.get(f"/v1/console/lineage/request/{asked.headers['x-request-id']}")
    assert asked.status_code == 200 and asked.json()["predictions"][0]["expert"] == "computing"
    assert graph.status_code == 200, graph.text
    nodes = {n["id"]: n for n in graph.json()["nodes"]}
    request_id = asked.headers["x-request-id"]
    assert nodes[f"aiprime:request/{request_id}"]["kind"] == "Activity"
    assert nodes[f"aiprime:user/{viewer}"]["kind"] == "Agent"
    edges = {(e["source"], e["relation"], e["target"]) for e in graph.json()["edges"]}
    assert (f"aiprime:answer/{request_id}", "Generation", f"aiprime:request/{request_id}") in edges
    assert (f"aiprime:request/{request_id}", "Association", f"aiprime:user/{viewer}") in edges
    missing = " ".join(m["link"] for m in graph.json()["missing"])
    assert "retrieved chunks" in missing and "gate decision" in missing


def test_an_unknown_request_id_is_a_clear_404(console, viewer) -> None:
    unknown = f"no-such-request-{uuid.uuid4().hex[:8]}"
    with console.client(console.login(viewer)) as client:
        answer = client.get(f"/v1/console/lineage/request/{unknown}")
    assert answer.status_code == 404
    assert (
        unknown in answer.json()["error"]["message"] and "x-request-id" in answer.json()["error"]["message"]
    )


def _set_actor(engine: sa.Engine, seq: int, actor: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            sa.text("UPDATE gateway.audit_log SET actor = :a WHERE seq = :s"), {"a": actor, "s": seq}
        )


def test_a_tampered_audit_row_is_a_clear_422_not_a_500(console, viewer, app_db_url: str) -> None:
    request_id = f"req-console-tampered-{uuid.uuid4().hex[:8]}"
    engine = connect(app_db_url)
    with engine.begin() as conn:
        entry = audit.AuditEntry("bob", "POST /v1/ask", "ask", "allow", 200, request_id)
        seq = audit.append(conn, [entry])
    _set_actor(engine, seq, "mallory")  # as a superuser who switches the append-only triggers off
    try:
        with console.client(console.login(viewer)) as client:
            answer = client.get(f"/v1/console/lineage/request/{request_id}")
    finally:
        _set_actor(engine, seq, "bob")  # the session's database is shared: later tests verify the whole chain
    assert answer.status_code == 422, answer.text
    assert f"Audit row {seq}" in answer.json()["error"]["message"]
    assert "aiprime audit verify" in answer.json()["error"]["message"]


def test_models_without_mlflow_say_so_in_the_view(console, viewer) -> None:
    with console.client(console.login(viewer)) as client:
        answer = client.get("/v1/console/models")
        lineage = client.get("/v1/console/lineage/model/aiprime-gate/1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["models"] == []
    assert "MLflow does not answer" in answer.json()["models_error"]
    assert "aiprime services up" in answer.json()["models_error"]
    assert (
        answer.json()["drift"]["checked"] is False
        and "hourly_drift_check" in answer.json()["drift"]["message"]
    )
    assert lineage.status_code == 200 and lineage.json()["nodes"] == []
    assert "MLflow does not answer" in lineage.json()["missing"][0]["reason"]


def _register(tracking_uri: str, folder: Path, name: str, metrics: dict[str, float]) -> str:
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name("aiprime-console-test")
    experiment = found.experiment_id if found else client.create_experiment("aiprime-console-test")
    run = client.create_run(experiment).info.run_id
    for key, value in metrics.items():
        client.log_metric(run, key, value)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pt").write_bytes(b"weights")
    tags = {"data_version": "0" * 32, "code_version": "f" * 40, "pipeline_run_id": "kfp-run-7"}
    version = registry.register(tracking_uri, name, folder, run, tags)
    client.set_terminated(run)
    return version


def test_models_lists_champions_and_challengers_with_metrics_and_drift(
    console_with_mlflow, viewer, mlflow_url: str, tmp_path: Path
) -> None:
    name = f"aiprime-console-{uuid.uuid4().hex[:6]}"
    first = _register(mlflow_url, tmp_path / "a", name, {"test_accuracy": 0.71})
    registry.promote(mlflow_url, name, 0.71, None)
    second = _register(mlflow_url, tmp_path / "b", name, {"test_accuracy": 0.69})
    drift = DriftMetrics()
    drift.record(0.2, 0.004, True, 512)
    publish(drift.registry, "drift", console_with_mlflow.settings.home / "metrics")

    with console_with_mlflow.client(console_with_mlflow.login(viewer)) as client:
        answer = client.get("/v1/console/models").json()
        lineage = client.get(f"/v1/console/lineage/model/{name}/{first}")
    shown = {m["version"]: m for m in answer["models"] if m["name"] == name}
    assert answer["models_error"] is None
    assert shown[first]["aliases"] == ["champion"] and shown[second]["aliases"] == ["challenger"]
    assert shown[first]["metrics"] == {"test_accuracy": 0.71}
    assert shown[first]["tags"]["pipeline_run_id"] == "kfp-run-7"
    assert answer["drift"] | {"last_run": None} == {
        "checked": True, "drifted": True, "p_values": {"mmd": 0.2, "routing": 0.004}, "requests": 512,
        "last_run": None, "message": "",
    }  # fmt: skip
    assert lineage.status_code == 200, lineage.text
    assert any(n["id"] == f"aiprime:model/{name}/{first}" for n in lineage.json()["nodes"])


def test_a_deleted_model_version_is_a_clear_404(console_with_mlflow, viewer, mlflow_url, tmp_path) -> None:
    name = f"aiprime-console-{uuid.uuid4().hex[:6]}"
    version = _register(mlflow_url, tmp_path / "a", name, {})
    MlflowClient(mlflow_url).delete_model_version(name, version)
    with console_with_mlflow.client(console_with_mlflow.login(viewer)) as client:
        answer = client.get(f"/v1/console/lineage/model/{name}/{version}")
    assert answer.status_code == 404
    assert f"no version {version} of {name}" in answer.json()["error"]["message"]


def test_console_login_gives_the_local_admin_a_working_link(console, app_db_url: str) -> None:
    user = f"admin-{uuid.uuid4().hex[:6]}"
    login = console_login(console.settings, connect(app_db_url), console.gateway, console.url, user)
    token = login.login_url.split("#login=", 1)[1]
    with console.client(token) as client:
        answer = client.get("/v1/console/links")
    assert login.url == f"{console.url}/console/" and login.user == user
    assert answer.status_code == 200 and answer.json()["user"] == user
    assert "admin" in answer.json()["permissions"]
    again = console_login(console.settings, connect(app_db_url), console.gateway, console.url, user)
    assert again.user == user, "a second summary logs the same local admin in (no second user)"


def test_an_answers_lineage_reaches_the_served_version_or_names_it_missing(
    console_with_mlflow, viewer, mlflow_url: str, app_db_url: str, tmp_path: Path
) -> None:
    name = f"aiprime-console-{uuid.uuid4().hex[:6]}"
    version = _register(mlflow_url, tmp_path / "a", name, {"test_accuracy": 0.7})
    gone = _register(mlflow_url, tmp_path / "b", name, {})
    MlflowClient(mlflow_url).delete_model_version(name, gone)
    with console_with_mlflow.client(console_with_mlflow.login(viewer)) as client:
        asked = client.post("/v1/ask", json={"question": "what barks?"})
        request_id = asked.headers["x-request-id"]
        vector = np.zeros(384, dtype=np.float32)
        served = [
            LoggedRequest("gate", vector, "living", 0.64, None, request_id, f"{name}@{v}")
            for v in (version, gone)
        ]
        log_requests(connect(app_db_url), served)
        console_with_mlflow.flush_audit()
        graph = client.get(f"/v1/console/lineage/request/{request_id}").json()
    model = f"aiprime:model/{name}/{version}"
    edges = {(e["source"], e["relation"], e["target"]) for e in graph["edges"]}
    assert (f"aiprime:request/{request_id}", "Usage", model) in edges
    assert any(s.startswith("aiprime:decision/") and r == "Derivation" and t == model for s, r, t in edges)
    assert any(n["id"].startswith("aiprime:mlflow-run/") for n in graph["nodes"])
    lost = [m for m in graph["missing"] if "-> model version" in m["link"]]
    assert len(lost) == 1 and f"no version {gone} of {name}" in lost[0]["reason"]


def test_a_drift_file_that_is_not_prometheus_text_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "drift.prom").write_text("aiprime_drift_detected{ not text\n")
    status = drift_status(tmp_path)
    assert not status.checked and str(tmp_path / "drift.prom") in status.message
