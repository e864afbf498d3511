"""The Grafana dashboards of the mixture's services, declared once and written as committed JSON.

One `Dashboard` per service (router, gate, experts, retriever, generator, drift, training) lists its panels;
each panel is a PromQL expression over series the code exports (`aiprime.serving.metrics`,
`aiprime.serving.graph.telemetry`, `aiprime.observability.jobmetrics`, KServe's own histograms) or over the
recording rules of `kustomize/observability/mixture-slo-rules.yaml`.
`python -m aiprime.observability.dashboards` rewrites `kustomize/observability/dashboards/`; a test fails when
the committed files differ from what this module writes, or name a series nothing exports.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_RATE = "[$__rate_interval]"


@dataclass(frozen=True)
class Panel:
    """One time-series panel: a title, what it shows, PromQL queries (with their legends) and a unit."""

    title: str
    description: str
    queries: tuple[tuple[str, str], ...]  # (expr, legend format)
    unit: str = "short"  # a Grafana unit: short, percentunit, s, reqps


@dataclass(frozen=True)
class Dashboard:
    """A service's dashboard."""

    service: str  # the file is aiprime-<service>.json
    title: str
    description: str
    panels: tuple[Panel, ...]


def _p(title: str, description: str, expr: str, legend: str = "", unit: str = "short") -> Panel:
    return Panel(title, description, ((expr, legend),), unit)


ROUTER = Dashboard("router", "AI Prime router", "The InferenceGraph router: graph SLOs, steps, fallbacks.", (
    _p("Availability, 1 h (SLO 99.9%)", "Share of graph requests answered without a 5xx.",
       "1 - aiprime_router:request_errors:ratio_rate1h", "availability", "percentunit"),
    _p("Requests by entry node and status", "Graph requests per second.",
       f"sum by (node, code) (rate(aiprime_router_requests_total{_RATE}))", "{{node}} {{code}}", "reqps"),
    _p("p99 latency by entry node (SLO: 99% within 1 s)", "From the router's own histogram.",
       "aiprime_router:request_duration_seconds:p99_5m", "{{node}}", "s"),
    _p("Slow graph requests (over 1 s)", "The latency SLO's bad events, as a share.",
       "aiprime_router:request_slow:ratio_rate5m", "slow", "percentunit"),
    _p("Failing steps", "Share of each step's calls that failed (transport error or non-2xx).",
       "aiprime_router:step_errors:ratio_rate5m", "{{node}}/{{step}}", "percentunit"),
    _p("Step p95 latency", "Each step, retries included.",
       f"histogram_quantile(0.95, sum by (le, node, step) (rate(aiprime_router_step_duration_seconds_bucket{_RATE})))",
       "{{node}}/{{step}}", "s"),
    _p("Fallback rate", "Share of graph requests whose step went to its fallback.",
       "aiprime_router:fallbacks:ratio_rate5m", "fallbacks", "percentunit"),
    Panel("Retries and in-flight requests", "Retried step calls per second; requests being served.", (
        (f"sum(rate(aiprime_router_retries_total{_RATE}))", "retries/s"),
        ("sum(aiprime_router_in_flight_requests)", "in flight"),
    )),
))  # fmt: skip

GATE = Dashboard("gate", "AI Prime gate", "The gate: where it routes, how balanced, how sure.", (
    _p("Expert utilisation (share of first choices)", "Each expert's share of the gate's first choices.",
       "aiprime_gate:utilisation:share5m", "{{expert}}", "percentunit"),
    _p("Utilisation coefficient of variation", "Standard deviation over mean of the experts' first-choice "
       "rates: 0 is perfectly balanced; the AIPrimeExpertImbalance alert fires above 1.",
       "aiprime_gate:utilisation:cv5m", "cv"),
    _p("Gate confidence, median", "The gate's probability of its first choice; the AIPrimeGateLowConfidence "
       "alert fires under 0.4.",
       "aiprime_gate:confidence:p50_5m", "p50"),
    _p("Confidence by expert (p50)", "Per first-choice expert.",
       f"histogram_quantile(0.5, sum by (le, expert) (rate(aiprime_gate_confidence_bucket{_RATE})))", "{{expert}}"),
    _p("Experts avoided by load-aware routing", "Passed over because not ready or saturated.",
       f"sum by (expert, reason) (rate(aiprime_gate_avoided_total{_RATE}))", "{{expert}} {{reason}}", "reqps"),
    Panel("Request log writes and losses", "Rows written to request_log for drift detection, and those lost.", (
        (f"sum(rate(aiprime_request_log_written_total{_RATE}))", "written"),
        (f"sum by (reason) (rate(aiprime_request_log_failed_total{_RATE}))", "lost: {{reason}}"),
    ), "reqps"),
))  # fmt: skip

EXPERTS = Dashboard("experts", "AI Prime experts", "Every model server: load, capacity drops, latency.", (
    _p("Requests by model and outcome", "Per second.",
       f"sum by (model, outcome) (rate(aiprime_model_requests_total{_RATE}))", "{{model}} {{outcome}}", "reqps"),
    Panel("In flight and limit", "Requests held, and each model's --max_in_flight (0: no limit).", (
        ("sum by (model) (aiprime_model_in_flight_requests)", "{{model}}"),
        ("max by (model) (aiprime_model_max_in_flight)", "{{model}} limit"),
    )),
    _p("Capacity drops (overflow share)", "Share of requests turned away at --max_in_flight.",
       "aiprime_model:overflow:ratio_rate5m", "{{model}}", "percentunit"),
    _p("Dropped requests by reason", "overflow, invalid_input, not_ready, error.",
       f"sum by (model, reason) (rate(aiprime_model_dropped_requests_total{_RATE}))", "{{model}} {{reason}}",
       "reqps"),
    _p("Predict p95 latency", "KServe's own histogram of predict().",
       f"histogram_quantile(0.95, sum by (le, model_name) (rate(request_predict_seconds_bucket{_RATE})))",
       "{{model_name}}", "s"),
))  # fmt: skip

RETRIEVER = Dashboard("retriever", "AI Prime retriever", "The retriever: load, errors, latency.", (
    _p("RAG availability, 1 h (SLO 99.5%)", "Retriever and generator calls answered.",
       "1 - aiprime_rag:request_errors:ratio_rate1h", "availability", "percentunit"),
    _p("Requests by outcome", "Per second.",
       f'sum by (outcome) (rate(aiprime_model_requests_total{{model="retriever"}}{_RATE}))', "{{outcome}}", "reqps"),
    _p("Search p95 latency", "KServe's histogram of predict() (embedding and search).",
       f'histogram_quantile(0.95, sum by (le) (rate(request_predict_seconds_bucket{{model_name="retriever"}}{_RATE})))',
       "predict", "s"),
    _p("In flight", "Requests being served.", 'sum(aiprime_model_in_flight_requests{model="retriever"})', "in flight"),
))  # fmt: skip

GENERATOR = Dashboard("generator", "AI Prime generator", "The generator: answers by mode, abstentions, latency.", (
    _p("Abstention rate, 1 h", "Share of questions the generator abstained on.",
       "aiprime_generator:abstentions:ratio_rate1h", "abstained", "percentunit"),
    _p("Answers by mode", "generated, extractive (the best passage quoted), abstained.",
       f"sum by (mode) (rate(aiprime_generator_answers_total{_RATE}))", "{{mode}}", "reqps"),
    _p("Requests by outcome", "Per second.",
       f'sum by (outcome) (rate(aiprime_model_requests_total{{model="generator"}}{_RATE}))', "{{outcome}}", "reqps"),
    _p("Generation p95 latency", "KServe's histogram of predict().",
       f'histogram_quantile(0.95, sum by (le) (rate(request_predict_seconds_bucket{{model_name="generator"}}{_RATE})))',
       "predict", "s"),
))  # fmt: skip

DRIFT = Dashboard("drift", "AI Prime drift", "The gate's traffic against its training data (hourly_drift_check).", (
    _p("Drift detected", "1 when the last check found drift.", "max(aiprime_drift_detected)", "drifted"),
    _p("p-values of the last check", "mmd (embeddings) and routing (chi-square); drift below alpha/2 = 0.005.",
       "aiprime_drift_p_value", "{{test}}"),
    _p("Requests compared", "Logged requests in the last check's window.", "aiprime_drift_window_requests", "requests"),
    _p("Time since the last check", "Seconds.", "time() - max(aiprime_drift_last_run_timestamp_seconds)", "age", "s"),
))  # fmt: skip

TRAINING = Dashboard("training", "AI Prime training", "The last moe-training run (Dagster moe_models, KFP).", (
    _p("Test accuracy by model", "gate, system (gate + experts), system_top2, dense baseline.",
       "aiprime_training_accuracy", "{{model}}", "percentunit"),
    _p("Utilisation CV on the test set", "How evenly the gate spread the test set over the experts.",
       "aiprime_training_utilisation_cv", "cv"),
    _p("Champion decisions", "1: the run's challenger became champion.", "aiprime_training_promoted",
       "{{registered_model}}"),
    _p("Time since the last finished run", "Seconds.",
       "time() - max(aiprime_training_last_success_timestamp_seconds)", "age", "s"),
))  # fmt: skip

DASHBOARDS = (ROUTER, GATE, EXPERTS, RETRIEVER, GENERATOR, DRIFT, TRAINING)


def grafana_json(dashboard: Dashboard) -> dict:
    """The dashboard as Grafana's JSON model: two panels a row, a Prometheus data source variable."""
    panels = [_grafana_panel(i, panel) for i, panel in enumerate(dashboard.panels)]
    return {
        "uid": f"aiprime-{dashboard.service}",
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["aiprime", "mixture"],
        "schemaVersion": 39,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


def _grafana_panel(index: int, panel: Panel) -> dict:
    targets = [
        {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
        for i, (expr, legend) in enumerate(panel.queries)
    ]
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": 12 * (index % 2), "y": 8 * (index // 2), "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": targets,
    }


def render(dashboard: Dashboard) -> str:
    """The committed file's text."""
    return json.dumps(grafana_json(dashboard), indent=2) + "\n"


def write_all(folder: Path) -> list[Path]:
    """Write every dashboard to `folder/aiprime-<service>.json`; return the paths."""
    paths = []
    for dashboard in DASHBOARDS:
        path = folder / f"aiprime-{dashboard.service}.json"
        path.write_text(render(dashboard))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(
        Path(sys.argv[1] if len(sys.argv) > 1 else "kustomize/observability/dashboards")
    ):
        print(written)
