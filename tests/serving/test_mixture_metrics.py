"""The mixture's SLIs on the real stack: the gate's confidence and first choices, and every server's JSON
log file under AIPRIME_HOME/logs (what `aiprime logs` reads)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiprime.observability import logs

DOG = "a domestic animal that barks and is kept as a pet"


def samples(text: str, name: str) -> dict[frozenset, float]:
    """Labels -> value of every sample called `name` in a /metrics text."""
    return {
        frozenset(s.labels.items()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


@pytest.mark.slow
def test_the_gate_exports_its_confidence_in_each_first_choice(served, http) -> None:
    before = samples(http.get(f"{served.base('gate')}/metrics").text, "aiprime_gate_confidence_count")
    answer = http.post(served.stack.router_url, json={"instances": [DOG]}, headers={"x-request-id": "dog-1"})
    assert answer.status_code == 200, answer.text
    after = samples(http.get(f"{served.base('gate')}/metrics").text, "aiprime_gate_confidence_count")
    grown = {
        labels: value - before.get(labels, 0)
        for labels, value in after.items()
        if value > before.get(labels, 0)
    }
    assert list(grown.values()) == [1.0]  # one request, one first choice, one expert label
    (labels,) = grown
    first = samples(http.get(f"{served.base('gate')}/metrics").text, "aiprime_gate_selections_total")
    assert first[frozenset({("expert", dict(labels)["expert"]), ("rank", "first")})] >= 1


@pytest.mark.slow
def test_every_server_of_the_stack_writes_its_json_log(served, http) -> None:
    http.post(served.stack.router_url, json={"instances": [DOG]}, headers={"x-request-id": "dog-2"})
    log_dir = served.home / "logs"
    assert {"router", "gate", "combiner"} <= set(logs.services(log_dir))
    assert any(name.startswith("expert-") for name in logs.services(log_dir))
    lines = logs.read_logs(log_dir, service=["router"], request_id="dog-2")
    assert [(line["status"], line["node"]) for line in lines] == [(200, "root")]
