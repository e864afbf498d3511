"""`aiprime router`: a graph of `serviceUrl` steps runs without `--services`; an unmapped `serviceName` is
a one-line error naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from _helpers import free_port
from typer.testing import CliRunner

from aiprime.cli import app


def _write(tmp_path: Path, step: dict) -> Path:
    path = tmp_path / "graph.yaml"
    document = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "InferenceGraph",
        "metadata": {"name": "cli-graph"},
        "spec": {"nodes": {"root": {"routerType": "Sequence", "steps": [{"name": "only", **step}]}}},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_an_unknown_service_name_is_one_line_naming_it(tmp_path: Path) -> None:
    graph = _write(tmp_path, {"serviceName": "expert-nowhere"})
    result = CliRunner().invoke(app, ["router", "--graph", str(graph), "--port", str(free_port())])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Unknown serviceName 'expert-nowhere'" in lines[0], result.output
    assert "Traceback" not in result.output


def test_a_service_url_graph_runs_without_a_services_mapping(tmp_path: Path, zoo) -> None:
    graph = _write(tmp_path, {"serviceUrl": zoo.path("/echo/plain")})
    with _router(graph) as url:
        answer = httpx.post(url, json={"instances": [1]}, timeout=10)
    assert answer.json() == {"tag": "plain", "received": {"instances": [1]}}


def test_the_router_command_propagates_the_headers_named_by_propagate_headers(tmp_path: Path, zoo) -> None:
    """KServe's router reads PROPAGATE_HEADERS from its environment; so does `aiprime router`."""
    graph = _write(tmp_path, {"serviceUrl": zoo.path("/echo/plain")})
    with _router(graph, {"PROPAGATE_HEADERS": "X-Request-Id,X-Tenant-.*"}) as url:
        headers = {"x-request-id": "req-42", "x-tenant-name": "acme", "x-other": "dropped"}
        assert httpx.post(url, json={"instances": [1]}, headers=headers, timeout=10).status_code == 200
    seen = zoo.state.headers["/echo/plain"]
    assert seen.get("x-request-id") == "req-42" and seen.get("x-tenant-name") == "acme", seen
    assert "x-other" not in seen


@contextmanager
def _router(graph: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`aiprime router --graph GRAPH` on a free port, as its own process; yields its URL."""
    port = free_port()
    aiprime = str(Path(sys.executable).with_name("aiprime"))  # the console script beside this Python
    command = [aiprime, "router", "--graph", str(graph), "--port", str(port)]
    router = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_serving(url, router)
        yield url
    finally:
        router.terminate()
        router.wait(timeout=30)


def _wait_serving(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"the router at {url} did not serve within 60 s")
