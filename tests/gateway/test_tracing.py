"""One trace per request from the gateway through the router to a model server, with its baggage, and one
SERVER span per gateway request, each process writing its spans to its own file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from _helpers import free_port
from _helpers.graphs import write_graph
from _helpers.processes import ModelServerProcess
from _helpers.processes import aiprime_server as serving
from opentelemetry.sdk.trace import TracerProvider

PREDICT = {"instances": ["a dog runs"]}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_baggage_reaches_the_upstream_with_the_trace(make_gateway, principals, upstream) -> None:
    gw = make_gateway(tracer_provider=TracerProvider())
    _, key = principals.service("viewer")
    with gw.client(key) as client:
        client.post(
            "/v1/predict", json=PREDICT, headers={"traceparent": TRACEPARENT, "baggage": "tenant=acme"}
        )
    seen = upstream.last()["headers"]
    assert seen["baggage"] == "tenant=acme" and seen["traceparent"].split("-")[1] == TRACE_ID


def spans_of_trace(path: Path) -> list[dict]:
    """The spans a process wrote to `path` that belong to TRACE_ID."""
    spans = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [s for s in spans if s["context"]["trace_id"] == f"0x{TRACE_ID}"]


def graph_file(folder: Path, upstream_url: str, model_url: str) -> Path:
    """An Ensemble that calls the test's upstream (which records headers) and a real KServe server."""
    steps = [{"name": "seen", "serviceUrl": f"{upstream_url}/"}, {"name": "model", "serviceUrl": model_url}]
    return write_graph(folder, "traced", {"routerType": "Ensemble", "steps": steps})


@pytest.mark.slow
def test_one_trace_crosses_gateway_router_and_model_server(
    tmp_path: Path, pg_server_url: str, principals, upstream
) -> None:
    env = {
        **os.environ,
        "AIPRIME_HOME": str(tmp_path / "home"),
        "AIPRIME_DATABASE_URL": pg_server_url,
        "OTEL_PROPAGATORS": "baggage,tracecontext",
    }
    traces = {name: tmp_path / f"{name}.jsonl" for name in ("gateway", "router", "combiner")}
    _, key = principals.service("viewer")
    combiner = ModelServerProcess(
        "combiner", ["--trace_file", str(traces["combiner"])], tmp_path / "combiner.log", env=env
    )
    with combiner:
        graph = graph_file(tmp_path, upstream.url, combiner.predict_url)
        router_args = ["router", "--graph", str(graph), "--trace-file", str(traces["router"])]
        with serving(router_args, free_port(), tmp_path / "router.log", env) as router_url:
            gateway_args = ["gateway", "--upstream", router_url, "--trace-file", str(traces["gateway"])]
            with serving(gateway_args, free_port(), tmp_path / "gateway.log", env) as gateway_url:
                headers = {
                    "authorization": f"Bearer {key}",
                    "traceparent": TRACEPARENT,
                    "baggage": "tenant=acme",
                }
                answer = httpx.post(f"{gateway_url}/v1/predict", json=PREDICT, headers=headers, timeout=60)
    assert answer.headers["x-trace-id"] == TRACE_ID, answer.text
    # every process has stopped, so the spans its batch processor still held are in its file
    spans = {name: spans_of_trace(path) for name, path in traces.items()}
    assert all(spans.values()), {name: len(found) for name, found in spans.items()}
    assert [s["kind"] for s in spans["gateway"]].count("SpanKind.SERVER") == 1
    assert [s["kind"] for s in spans["combiner"]].count("SpanKind.SERVER") == 1
    seen = upstream.last()["headers"]  # behind gateway and router, with no header propagation configured
    assert seen["traceparent"].split("-")[1] == TRACE_ID and seen["baggage"] == "tenant=acme"
