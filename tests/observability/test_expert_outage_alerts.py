"""Killing an expert under load fires the graph's alerts, evaluated by Prometheus' own `promtool test rules`.

A real router (`aiprime router`) sends a steady load to two real expert servers (tiny experts trained here);
its `/metrics` is scraped once a second. Half-way one expert is killed (SIGKILL). The scrapes become
promtool's input series, one per evaluation minute: the rules use ratios of rates, which do not change when
time is scaled, so a second of real traffic stands for a minute of cluster time. promtool then evaluates
kustomize/observability/mixture-slo-rules.yaml on them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from _helpers import free_port
from _helpers.graphs import write_graph
from _helpers.processes import ModelServerProcess, aiprime_server
from _helpers.tiny_moe import one_torch_thread, tiny_run, tiny_splits  # noqa: F401 - fixtures
from prometheus_client.parser import text_string_to_metric_families

from aiprime.moe import fitting
from aiprime.moe.experts import EXPERTS

RULES = Path(__file__).resolve().parents[2] / "kustomize" / "observability" / "mixture-slo-rules.yaml"
DOMAINS = ("living", "actions")  # two of the registry's experts; `actions` is killed
HEALTHY_S, BROKEN_S = 8, 12  # seconds of load (promtool minutes) before and after the kill

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)"
    ),
]


def switch_graph(folder: Path, urls: dict[str, str]) -> Path:
    """A Switch that sends `{"instances": [{"expert": D, "text": ...}]}` to the expert of domain D."""
    steps = [
        {"name": domain, "serviceUrl": url, "condition": f'instances.#(expert=="{domain}")'}
        for domain, url in urls.items()
    ]
    return write_graph(folder, "outage", {"routerType": "Switch", "steps": steps})


@pytest.fixture(scope="module")
def scrapes(tmp_path_factory: pytest.TempPathFactory, tiny_splits, tiny_run) -> list[str]:  # noqa: F811
    """The router's /metrics once a second: HEALTHY_S under load, then BROKEN_S after `actions` was killed."""
    folder = tmp_path_factory.mktemp("outage")
    specs = {spec.domain: dataclasses.replace(spec, init="scratch") for spec in EXPERTS}  # no dense needed
    env = {**os.environ, "AIPRIME_HOME": str(folder / "home"), "HF_HUB_OFFLINE": "1"}
    experts = {}
    for domain in DOMAINS:
        model_dir = fitting.train_expert(specs[domain], tiny_splits["train"], tiny_splits["val"], folder / domain,
                                         tiny_run)  # fmt: skip
        args = ["--model_name", f"expert-{domain}", "--domain", domain, "--model_dir", str(model_dir),
                "--enable_latency_logging", "false"]  # fmt: skip
        experts[domain] = ModelServerProcess(
            "expert", args, folder / f"{domain}.out", name=f"expert-{domain}", env=env
        )
    with experts["living"], experts["actions"]:
        graph = switch_graph(folder, {d: s.predict_url for d, s in experts.items()})
        with aiprime_server(
            ["router", "--graph", str(graph)], free_port(), folder / "router.out", env
        ) as url:
            return list(_load_and_scrape(url, experts["actions"]))


def _load_and_scrape(router_url: str, victim: ModelServerProcess) -> Iterator[str]:
    with httpx.Client(timeout=10) as client:
        for second in range(HEALTHY_S + BROKEN_S):
            if second == HEALTHY_S:
                victim.process.kill()  # its `with` then finds it gone: SIGTERM is not sent to a reaped process
                victim.process.wait()
            deadline = time.monotonic() + 1.0
            sent = 0
            while time.monotonic() < deadline:
                domain = DOMAINS[sent % len(DOMAINS)]
                client.post(router_url, json={"instances": [{"expert": domain, "text": "a small dog barks"}]})
                sent += 1
            yield client.get(f"{router_url}/metrics").text


def input_series(scrapes: list[str]) -> list[dict[str, str]]:
    """promtool's input series: every sample of every scrape, `_` where a series did not exist yet."""
    values: dict[str, list[str]] = {}
    for i, text in enumerate(scrapes):
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                values.setdefault(f"{sample.name}{{{labels}}}", ["_"] * len(scrapes))[i] = repr(sample.value)
    return [{"series": series, "values": " ".join(points)} for series, points in values.items()]


def promtool_test(folder: Path, scrapes: list[str], alerts: list[dict]) -> subprocess.CompletedProcess[str]:
    """Run `promtool test rules` on the mixture's rules (annotations left out: the expressions are tested)."""
    groups = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series(scrapes), "alert_rule_test": alerts}],
    }
    (folder / "test.yaml").write_text(yaml.safe_dump(test, width=1_000_000))
    return subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=folder, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def test_the_killed_expert_fires_the_step_and_the_availability_alerts(scrapes, tmp_path: Path) -> None:
    end = f"{HEALTHY_S + BROKEN_S - 1}m"
    step_failing = {"severity": "critical", "node": "root", "step": "actions"}
    alerts = [
        {"eval_time": f"{HEALTHY_S - 1}m", "alertname": "AIPrimeExpertStepFailing", "exp_alerts": []},
        {"eval_time": f"{HEALTHY_S - 1}m", "alertname": "AIPrimeGraphErrorBudgetBurnFast", "exp_alerts": []},
        {
            "eval_time": end,
            "alertname": "AIPrimeExpertStepFailing",
            "exp_alerts": [{"exp_labels": step_failing}],
        },
        {
            "eval_time": end,
            "alertname": "AIPrimeGraphErrorBudgetBurnFast",
            "exp_alerts": [{"exp_labels": {"severity": "critical", "slo": "graph-availability"}}],
        },
    ]
    result = promtool_test(tmp_path, scrapes, alerts)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_would_see_an_alert_that_does_not_fire(scrapes, tmp_path: Path) -> None:
    wrong = {"severity": "critical", "node": "root", "step": "living"}  # the expert that kept answering
    alerts = [{"eval_time": f"{HEALTHY_S + BROKEN_S - 1}m", "alertname": "AIPrimeExpertStepFailing",
               "exp_alerts": [{"exp_labels": wrong}]}]  # fmt: skip
    result = promtool_test(tmp_path, scrapes, alerts)
    assert result.returncode != 0 and "AIPrimeExpertStepFailing" in result.stdout + result.stderr
