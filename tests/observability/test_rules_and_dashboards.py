"""Every PrometheusRule and Grafana dashboard under kustomize/ names only series the code exports, every
alert has a runbook section, and the committed dashboards are what `aiprime.observability.dashboards` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kserve.metrics
import pytest
import yaml
from _helpers.promql import declared, fresh, parse

from aiprime.gateway.telemetry import GatewayMetrics
from aiprime.observability import dashboards
from aiprime.observability.jobmetrics import DriftMetrics, TrainingMetrics
from aiprime.serving.graph.telemetry import RouterMetrics
from aiprime.serving.metrics import GateMetrics, GeneratorMetrics, RequestLogMetrics, ServerMetrics

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "kustomize" / "observability"
RULE_FILES = [
    *sorted(OBSERVABILITY.glob("*-rules.yaml")),
    REPO / "kustomize/components/monitoring/prometheusrules.yaml",
]
DASHBOARD_FILES = sorted((OBSERVABILITY / "dashboards").glob("*.json"))
RUNBOOK = REPO / "docs" / "runbook.md"
# Series of exporters that are not AI Prime's code (components/monitoring reads kube-state-metrics).
KUBE_STATE_METRICS = (
    {
        "kube_deployment_status_replicas_available",
        "kube_pod_container_status_restarts_total",
        "kube_horizontalpodautoscaler_status_current_replicas",
        "kube_horizontalpodautoscaler_spec_max_replicas",
    },
    {"namespace", "deployment", "pod", "container", "horizontalpodautoscaler"},
)


@pytest.fixture(scope="module")
def exported() -> tuple[set[str], set[str]]:
    """(series names, label names) of every metric the code declares: the gateway, the router, the model
    servers, the batch jobs, and KServe's own histograms."""
    sources = [
        GatewayMetrics(fresh()),
        RouterMetrics(fresh()),
        ServerMetrics(fresh()),
        GateMetrics(fresh()),
        GeneratorMetrics(fresh()),
        RequestLogMetrics(fresh()),
        DriftMetrics(),
        TrainingMetrics(),
        kserve.metrics,
    ]
    names, labels = KUBE_STATE_METRICS[0].copy(), KUBE_STATE_METRICS[1].copy()
    for source in sources:
        more_names, more_labels = declared(source)
        names |= more_names
        labels |= more_labels
    return names, labels


def rules() -> list[tuple[str, dict]]:
    """(file name, rule) of every PrometheusRule under kustomize/."""
    found = []
    for path in RULE_FILES:
        document = yaml.safe_load(path.read_text())
        assert document["kind"] == "PrometheusRule", path
        found += [(path.name, rule) for group in document["spec"]["groups"] for rule in group["rules"]]
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    """(file name, expr) of every panel query of every committed dashboard."""
    return [
        (path.name, target["expr"])
        for path in DASHBOARD_FILES
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


def recorded() -> set[str]:
    return {rule["record"] for _, rule in rules() if "record" in rule}


def test_there_is_a_dashboard_per_service() -> None:
    services = {"gateway", "router", "gate", "experts", "retriever", "generator", "drift", "training"}
    assert {path.stem.removeprefix("aiprime-") for path in DASHBOARD_FILES} == services


@pytest.mark.parametrize("source", ["rules", "dashboards"])
def test_every_expression_names_only_series_the_code_exports(exported, source: str) -> None:
    series, labels = exported
    exprs = [(name, rule["expr"]) for name, rule in rules()] if source == "rules" else dashboard_exprs()
    assert len(exprs) > 40
    for where, expr in exprs:
        names, used_labels = parse(expr)
        assert names, f"no metric in {expr!r} ({where})"
        assert names <= series | recorded(), f"{sorted(names - series - recorded())} not exported: {where}"
        assert used_labels <= labels, (
            f"labels {sorted(used_labels - labels)} not exported, in {expr!r} ({where})"
        )


def test_the_checker_sees_a_series_nobody_exports(exported) -> None:
    names, _ = parse('sum by (expert) (rate(aiprime_gate_selection_total{rank="first"}[5m]))')
    assert names == {"aiprime_gate_selection_total"} and not names <= exported[0]


def test_the_latency_objective_uses_a_real_bucket_bound() -> None:
    from aiprime.serving.graph.telemetry import _BUCKETS

    text = (OBSERVABILITY / "mixture-slo-rules.yaml").read_text()
    bounds = set(re.findall(r'le="([^"]+)"', text))
    assert bounds and all(float(b) in _BUCKETS for b in bounds)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_a_runbook_section() -> None:
    anchors = {
        github_anchor(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("#")
    }
    alerts = [(name, rule) for name, rule in rules() if "alert" in rule]
    assert len(alerts) > 20
    for where, rule in alerts:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("https://github.com/aiprime/aiprime/blob/main/docs/runbook.md#"), (where, url)
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']} ({where}): no runbook heading for {url}"
        assert rule["labels"]["severity"] in {"critical", "warning"} and rule["annotations"]["summary"]


def test_the_committed_dashboards_are_what_the_declaration_writes() -> None:
    for dashboard in dashboards.DASHBOARDS:
        path = OBSERVABILITY / "dashboards" / f"aiprime-{dashboard.service}.json"
        assert path.read_text() == dashboards.render(dashboard), (
            f"{path} is stale: run `python -m aiprime.observability.dashboards`"
        )


def test_the_sla_measures_with_series_and_buckets_the_gateway_exports(exported) -> None:
    from aiprime.gateway.telemetry import BUCKETS

    queries = re.findall(r"```promql\n(.*?)```", (REPO / "docs" / "sla.md").read_text(), flags=re.DOTALL)
    assert len(queries) == 3
    for query in queries:
        names, labels = parse(query)
        assert names and names <= exported[0] and labels <= exported[1], query
        assert all(float(bound) in BUCKETS for bound in re.findall(r'le="([^"]+)"', query)), query
