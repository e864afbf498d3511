"""kustomize/observability/tracing (the OpenTelemetry Collector) and components/tracing (every AI Prime container
pointed at it): they render, the collector takes what the processes send and fans it out to Tempo and MLflow."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aiprime.observability.export import MLFLOW_EXPERIMENT_HEADER, OTLP_TRACES_PATH, span_exporters
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "kustomize" / "observability" / "tracing"
COMPONENT = REPO / "kustomize" / "components" / "tracing"
COLLECTOR = yaml.safe_load((DEPLOYMENT / "config" / "collector.yaml").read_text())
OVERLAYS = ["dev", "staging", "prod/us-east-1"]
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kustomize(folder: Path) -> dict[tuple[str, str], dict]:
    """The objects `kubectl kustomize folder` renders, by (kind, name)."""
    built = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True,
                           timeout=120).stdout  # fmt: skip
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(built)}


def test_the_collector_fans_otlp_out_to_tempo_and_mlflow() -> None:
    (pipeline,) = COLLECTOR["service"]["pipelines"].values()
    assert pipeline["receivers"] == ["otlp"] and set(pipeline["exporters"]) == {
        "otlp/tempo",
        "otlphttp/mlflow",
    }
    assert COLLECTOR["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    mlflow = COLLECTOR["exporters"]["otlphttp/mlflow"]
    assert mlflow["traces_endpoint"].endswith(OTLP_TRACES_PATH)
    assert MLFLOW_EXPERIMENT_HEADER in mlflow["headers"]  # MLflow refuses spans without it


@needs_kubectl
def test_the_collector_renders_in_its_namespace_and_meets_the_restricted_standard() -> None:
    objects = kustomize(DEPLOYMENT)
    assert {d["metadata"].get("namespace") for k, d in objects.items() if k[0] != "Namespace"} == {
        "aiprime-tracing"
    }
    namespace = objects[("Namespace", "aiprime-tracing")]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = objects[("Deployment", "otel-collector")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    rendered = yaml.safe_load(objects[("ConfigMap", "otel-collector-config")]["data"]["collector.yaml"])
    assert rendered == COLLECTOR


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_of_an_overlay_with_the_component_sends_its_spans_to_the_collector(
    overlay: str, tmp_path: Path
) -> None:
    relative = os.path.relpath(REPO / "kustomize" / "overlays" / overlay, tmp_path)
    component = os.path.relpath(COMPONENT, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [relative], "components": [component]})
    )
    objects = kustomize(tmp_path)
    endpoint = objects[("ConfigMap", "aiprime-settings")]["data"]["AIPRIME_OTLP_ENDPOINT"]
    port = kustomize(DEPLOYMENT)[("Service", "otel-collector")]["spec"]["ports"][0]["port"]
    assert endpoint == f"http://otel-collector.aiprime-tracing.svc:{port}{OTLP_TRACES_PATH}"
    (exporter,) = span_exporters(Settings(otlp_endpoint=endpoint, _env_file=None), None)
    assert type(exporter).__name__ == "OTLPSpanExporter"
    egress = objects[("NetworkPolicy", "otel-collector-egress")]["spec"]
    assert egress["podSelector"] == {} and egress["egress"][0]["ports"] == [{"port": port, "protocol": "TCP"}]
