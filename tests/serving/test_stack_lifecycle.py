"""`aiprime ask` against the running stack, then `aiprime serve stop` (marked to run last: they stop it)."""

from __future__ import annotations

import httpx
import pytest

from aiprime.moe.dataset import fine_classes
from aiprime.services.processes import read_pid
from aiprime.serving import launcher, samples
from aiprime.serving.names import domain_of
from aiprime.settings import Settings

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
def test_aiprime_run_ends_by_serving_the_champions_and_answering_samples(served) -> None:
    settings = Settings(home=served.home, mlflow_tracking_uri=served.env["AIPRIME_MLFLOW_TRACKING_URI"],
                        _env_file=None)
    restarted, answers = samples.serve_and_ask(settings)
    assert restarted.router_url != served.stack.router_url  # a fresh stack on the current champions
    assert launcher.running(settings) == restarted
    assert [a.text for a in answers] == list(samples.SAMPLE_QUERIES)
    lexnames = fine_classes()
    for answer in answers:
        expert = answer.answered_by[0]
        assert expert == answer.experts[0]  # top1.yaml: the gate's first choice answers
        assert answer.label in lexnames[domain_of(f"expert-{expert}")], (answer.text, expert, answer.label)


@pytest.mark.slow
@pytest.mark.stops_stack
def test_serve_stop_stops_every_process(served) -> None:
    run = served.home / "serving" / "run"
    pids = {p.stem: read_pid(p) for p in run.glob("*.pid")}
    assert set(pids) == {*served.stack.servers} and all(pids.values())
    result = served.aiprime("serve", "stop")
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in ("router", "gate", "expert-living", "combiner"))
    assert not list(run.glob("*.pid"))
    assert launcher.running(Settings(home=served.home, _env_file=None)) is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.stack.router_url}readyz", timeout=2)
    assert "nothing was running" in served.aiprime("serve", "stop").stdout
