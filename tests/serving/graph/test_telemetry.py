"""Prometheus metrics and OpenTelemetry traces of the router."""

from __future__ import annotations

import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiprime.observability.tracing import REQUEST_ID_ATTRIBUTE, ServiceAttributes

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def two_node_graph(make_graph, zoo) -> dict:
    return make_graph(
        {
            "root": {
                "routerType": "Sequence",
                "steps": [
                    {"name": "a", "serviceUrl": zoo.path("/echo/a")},
                    {"name": "sub", "nodeName": "sub"},
                ],
            },
            "sub": {
                "routerType": "Sequence",
                "steps": [{"name": "b", "serviceUrl": zoo.path("/status/503")}],
            },
        }
    )


def _metrics_once_counted(http, url: str, line: str, timeout_s: float = 5.0) -> str:
    """The router's /metrics once `line` is in it: the request counter moves after the response is sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = http.get(f"{url}/metrics").text
        if line in text or time.monotonic() > deadline:
            assert line in text, text
            return text
        time.sleep(0.05)


def test_metrics_count_requests_latency_in_flight_and_errors(http, router, zoo, make_graph) -> None:
    url = router(two_node_graph(make_graph, zoo))
    for _ in range(2):
        assert http.post(url, content=b"{}").status_code == 503  # the last (Soft) step's status
    text = _metrics_once_counted(http, url, 'aiprime_router_requests_total{code="503",node="root"} 2.0')
    assert 'aiprime_router_request_duration_seconds_count{node="root"} 2.0' in text
    assert 'aiprime_router_node_duration_seconds_count{node="sub"} 2.0' in text
    assert 'aiprime_router_step_duration_seconds_count{node="root",step="a"} 2.0' in text
    assert 'aiprime_router_step_errors_total{kind="status",node="sub",step="b"} 2.0' in text
    assert "aiprime_router_in_flight_requests 0.0" in text


def test_traceparent_reaches_the_upstream_and_spans_cover_nodes_and_steps(
    http, router, zoo, make_graph
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    url = router(two_node_graph(make_graph, zoo), tracer_provider=provider)
    http.post(url, content=b"{}", headers={"traceparent": INCOMING})
    for path in ("/echo/a", "/status/503"):
        version, trace_id, parent_id, flags = zoo.state.headers[path]["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", TRACE_ID, "01")  # the caller's trace goes on
        assert parent_id != "00f067aa0ba902b7"  # with the router's step span as parent
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"node root", "step root/a", "step root/sub", "node sub", "step sub/b"}
    assert all(format(span.context.trace_id, "032x") == TRACE_ID for span in spans.values())
    assert spans["node sub"].parent.span_id == spans["step root/sub"].context.span_id
    step_b = spans["step sub/b"]
    assert (
        format(step_b.context.span_id, "016x")
        == zoo.state.headers["/status/503"]["traceparent"].split("-")[2]
    )
    assert step_b.attributes["http.response.status_code"] == 503


def test_the_routers_own_spans_carry_the_callers_request_id(http, router, zoo, make_graph) -> None:
    # `aiprime trace REQUEST_ID` finds the router's spans by this attribute, not only the servers' spans.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ServiceAttributes("router"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    url = router(two_node_graph(make_graph, zoo), tracer_provider=provider)
    http.post(url, content=b"{}", headers={"X-Request-Id": "req-router-1"})
    spans = exporter.get_finished_spans()
    assert {span.name for span in spans} >= {"node root", "step root/a", "node sub"}
    assert {span.attributes.get(REQUEST_ID_ATTRIBUTE) for span in spans} == {"req-router-1"}


def test_baggage_travels_with_the_trace_to_the_upstream(http, router, zoo, make_graph) -> None:
    url = router(two_node_graph(make_graph, zoo), tracer_provider=TracerProvider())
    http.post(url, content=b"{}", headers={"traceparent": INCOMING, "baggage": "tenant=acme"})
    seen = zoo.state.headers["/echo/a"]  # no PROPAGATE_HEADERS: only the propagator carries it
    assert seen["baggage"] == "tenant=acme" and seen["traceparent"].split("-")[1] == TRACE_ID
