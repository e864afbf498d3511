"""kustomize/components/logging: it renders, and its collector reads the lines AI Prime's processes write."""

from __future__ import annotations

import fnmatch
import io
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aiprime.observability.logs import JsonFormatter

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "kustomize" / "components" / "logging"
DEPLOYMENT = REPO / "kustomize" / "observability" / "logging"  # the component in its own namespace
COLLECTOR = yaml.safe_load((COMPONENT / "config" / "collector.yaml").read_text())


def a_log_line() -> dict:
    """One line as every AI Prime process writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("router"))
    record = logging.LogRecord(
        "aiprime.serving.graph.app", logging.WARNING, __file__, 1, "graph request", (), None
    )
    handler.handle(record)
    return json.loads(stream.getvalue())


def test_the_collector_parses_the_fields_the_formatter_writes() -> None:
    line = a_log_line()
    operators = COLLECTOR["receivers"]["filelog"]["operators"]
    used = set(re.findall(r"attributes\.(\w+)", yaml.safe_dump(operators)))
    assert used == {"ts", "level", "message", "service"} and used <= set(line)
    (parser,) = [op for op in operators if op["type"] == "json_parser"]
    # Go's layout 2006-01-02T15:04:05.000Z07:00 is ISO 8601 with milliseconds and a numeric zone.
    assert parser["timestamp"]["layout"] == "2006-01-02T15:04:05.000Z07:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", line["ts"]), line["ts"]


def test_the_collector_reads_every_aiprime_namespace_and_only_those() -> None:
    (pattern,) = COLLECTOR["receivers"]["filelog"]["include"]
    assert fnmatch.fnmatch("/var/log/pods/aiprime-prod_router-7d9f_0a1b/router/0.log", pattern)
    assert not fnmatch.fnmatch("/var/log/pods/kube-system_coredns-1_0a1b/coredns/0.log", pattern)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_deployment_renders_in_its_own_namespace_and_ships_to_its_loki() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOYMENT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    objects = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(built)}
    assert {("StatefulSet", "loki"), ("Service", "loki"), ("DaemonSet", "log-collector")} <= set(objects)
    namespace = objects[("Namespace", "aiprime-logging")]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "privileged"  # baseline refuses the hostPath
    assert {d["metadata"].get("namespace") for k, d in objects.items() if k[0] != "Namespace"} == {
        "aiprime-logging"
    }
    port = objects[("Service", "loki")]["spec"]["ports"][0]["port"]
    assert COLLECTOR["exporters"]["otlphttp/loki"]["endpoint"] == f"http://loki:{port}/otlp"
    datasource = objects[("ConfigMap", "grafana-datasource-loki")]
    assert datasource["metadata"]["labels"] == {"grafana_datasource": "1"}
    (loki,) = yaml.safe_load(datasource["data"]["loki-datasource.yaml"])["datasources"]
    assert loki["url"] == f"http://loki.aiprime-logging.svc:{port}"
    pod = objects[("DaemonSet", "log-collector")]["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "pod-logs"]
    assert mount == {"name": "pod-logs", "mountPath": "/var/log/pods", "readOnly": True}
    assert (
        yaml.safe_load(objects[("ConfigMap", "log-collector-config")]["data"]["collector.yaml"]) == COLLECTOR
    )
