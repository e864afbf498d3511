"""The SLO rules and dashboard in kustomize/observability/: well formed, and naming only real series."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from _helpers.promql import SUFFIXES, parse
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2] / "kustomize" / "observability"
RULES = ROOT / "gateway-slo-rules.yaml"
DASHBOARD = ROOT / "dashboards" / "aiprime-gateway.json"


def _rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    assert document["kind"] == "PrometheusRule" and document["apiVersion"] == "monitoring.coreos.com/v1"
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def exported(gateway, principals) -> tuple[set[str], set[str]]:
    """(series names, label names) that a running gateway exports, after a few kinds of request."""
    _, key = principals.service("viewer")
    with gateway.client(key) as client:
        client.post("/v1/predict", json={"instances": ["a"]})
        client.post("/v1/ask", json={"question": "?"})
    with gateway.client() as client:
        client.post("/v1/predict", json={"instances": ["a"]})  # an auth failure: its `reason` label appears
        text = client.get("/metrics").text
    names, labels = set(), {"le"}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("aiprime_gateway"):
            names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
            labels |= {label for sample in family.samples for label in sample.labels}
    return names, labels


def test_the_rules_are_well_formed() -> None:
    rules = _rules()
    records = [r["record"] for r in rules if "record" in r]
    assert len(records) == len(set(records)) >= 10
    assert all(
        re.fullmatch(r"aiprime_gateway:[a-z0-9_]+:[a-z0-9_]+", name) for name in records
    )  # level:metric:ops
    for rule in rules:
        assert ("record" in rule) != ("alert" in rule) and isinstance(rule["expr"], str)
        if "alert" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert rule["annotations"]["summary"] and rule["annotations"]["runbook_url"].startswith(
                "https://"
            )


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_expression_names_only_series_the_gateway_exports(exported, source: str) -> None:
    series, labels = exported
    recorded = {r["record"] for r in _rules() if "record" in r}
    exprs = [r["expr"] for r in _rules()] if source == "rules" else _dashboard_exprs()
    for expr in exprs:
        names, used_labels = parse(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= series | recorded, f"{sorted(names - series - recorded)} not exported, in {expr!r}"
        assert used_labels <= labels, f"labels {sorted(used_labels - labels)} not exported, in {expr!r}"


def test_the_latency_objective_uses_a_real_bucket_bound() -> None:
    from aiprime.gateway.telemetry import BUCKETS

    bounds = set(re.findall(r'le="([^"]+)"', RULES.read_text()))
    assert bounds and all(float(b) in BUCKETS and b == repr(float(b)) for b in bounds)


def test_the_parser_sees_a_wrong_name() -> None:
    names, labels = parse('sum by (route) (rate(aiprime_gateway_requestz_total{code=~"5.."}[5m])) > 0.1')
    assert names == {"aiprime_gateway_requestz_total"} and labels == {"route", "code"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_component_builds_with_kustomize(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: aiprime\n"
        f"components: [{os.path.relpath(ROOT, tmp_path)}]\n"
    )
    built = subprocess.run(
        ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built)}
    assert {
        ("PrometheusRule", "aiprime-gateway-slo"),
        ("ConfigMap", "grafana-dashboard-aiprime-gateway"),
    } <= kinds  # the mixture's rules and dashboards ship beside (tests/observability)
