"""`aiprime ask`, the deployment asset (it restarts the stack, then keeps it), then `aiprime serve stop`: run last."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import httpx
import pytest

from aiprime.moe.dataset import fine_classes
from aiprime.orchestration.resources import Workspace
from aiprime.orchestration.serving_assets import deployment
from aiprime.services.processes import read_pid
from aiprime.serving import launcher, samples
from aiprime.serving.names import domain_of
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOG = "a domestic animal that barks and is kept as a pet"


@pytest.mark.slow
def test_ask_shows_the_route_the_prediction_and_the_words(served, http) -> None:
    route = http.post(served.services["gate"], json={"instances": [DOG]}).json()["predictions"][0]
    result = served.aiprime("ask", DOG, "--top", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Route" in out and "Prediction" in out and "answered" in out
    assert f"Why the gate chose {route['expert']}" in out and "Why the expert chose" in out
    assert "complete" in out


@pytest.mark.slow
@pytest.mark.stops_stack
def test_the_deployment_asset_serves_the_champions_and_answers_samples(served) -> None:
    tracking_uri = served.env["AIPRIME_MLFLOW_TRACKING_URI"]
    workspace = Workspace(REPO, Settings(home=served.home, mlflow_tracking_uri=tracking_uri))
    top1 = {"ops": {"deployment": {"config": {"rag": False}}}}  # the RAG graph: tests/serving/test_rag.py
    result = dg.materialize([deployment], resources={"workspace": workspace}, run_config=top1)
    recorded = {
        k: v.value for k, v in result.asset_materializations_for_node("deployment")[0].metadata.items()
    }
    settings = Settings(home=served.home, mlflow_tracking_uri=tracking_uri, _env_file=None)
    restarted = launcher.running(settings)
    assert restarted is not None and restarted.router_url == recorded["router"] != served.stack.router_url
    answers = recorded["answers"]
    assert [a["text"] for a in answers] == list(samples.SAMPLE_QUERIES)
    lexnames = fine_classes()
    for answer in answers:
        expert = answer["answered_by"][0]
        assert expert == next(iter(answer["route"]))  # top1.yaml: the gate's first choice answers
        assert answer["label"] in lexnames[domain_of(f"expert-{expert}")], answer
    versions = recorded["versions"]  # the gate and six experts, each the champion of its registered model
    assert len(versions) == 7 and versions == samples.served_versions(restarted, tracking_uri), versions
    assert recorded["gateway"] == restarted.gateway_url
    signed_in_through_the_console(served, restarted.gateway_url)


def signed_in_through_the_console(served, gateway_url: str) -> None:
    """`aiprime console` prints a login link whose token reads the console and classifies through the gateway."""
    result = served.aiprime("console")
    assert result.returncode == 0, result.stdout + result.stderr
    link = next(word for word in result.stdout.split() if "#login=" in word)
    page, token = link.split("#login=")
    assert page == f"{gateway_url.rstrip('/')}/console/"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        assert client.get(page).status_code == 200
        links = client.get(f"{gateway_url}v1/console/links")
        assert links.status_code == 200 and links.json()["user"] == "admin", links.text
        answer = client.post(f"{gateway_url}v1/predict", json={"instances": [DOG]})
    labels = {label for domain in fine_classes().values() for label in domain}
    assert answer.status_code == 200, answer.text
    scores = answer.json()["predictions"][0]["scores"]  # the answering expert's, through the router
    assert max(scores, key=scores.get) in labels, scores


@pytest.mark.slow
@pytest.mark.stops_stack
def test_a_second_deployment_with_nothing_changed_keeps_the_running_stack(served, tmp_path) -> None:
    tracking_uri = served.env["AIPRIME_MLFLOW_TRACKING_URI"]
    workspace = Workspace(REPO, Settings(home=served.home, mlflow_tracking_uri=tracking_uri))
    top1 = {"ops": {"deployment": {"config": {"rag": False}}}}
    with dg.DagsterInstance.ephemeral() as instance:  # both runs in one instance, as aiprime run's are
        first, second = (
            dg.materialize(
                [deployment], resources={"workspace": workspace}, run_config=top1, instance=instance
            )
            for _ in range(2)
        )
        routers = [
            r.asset_materializations_for_node("deployment")[0].metadata["router"].value
            for r in (first, second)
        ]
        answers = second.asset_materializations_for_node("deployment")[0].metadata["answers"].value
    settings = Settings(home=served.home, mlflow_tracking_uri=tracking_uri, _env_file=None)
    assert routers[0] == routers[1] == launcher.running(settings).router_url  # kept, not restarted
    assert [a["text"] for a in answers] == list(samples.SAMPLE_QUERIES)


@pytest.mark.slow
@pytest.mark.stops_stack
def test_serve_stop_stops_every_process(served) -> None:
    run = served.home / "serving" / "run"
    pids = {p.stem: read_pid(p) for p in run.glob("*.pid")}
    running = launcher.running(Settings(home=served.home, _env_file=None))  # as the deployment tests left it
    assert set(pids) == {*running.servers} and all(pids.values())
    result = served.aiprime("serve", "stop")
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in ("router", "gate", "expert-living", "combiner"))
    assert not list(run.glob("*.pid"))
    assert launcher.running(Settings(home=served.home, _env_file=None)) is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.stack.router_url}readyz", timeout=2)
    assert "nothing was running" in served.aiprime("serve", "stop").stdout
