"""The one project image: what the Dockerfile must keep true for the manifests that run it."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def dockerfile(infra) -> str:
    return (infra.repo / "docker" / "aiprime.Dockerfile").read_text()


def test_base_image_is_python_311_slim(dockerfile: str) -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)


def test_cpu_torch_is_installed_before_the_project(dockerfile: str) -> None:
    torch = dockerfile.index("torch==2.13.0")
    project = re.search(r"pip install \"?\.", dockerfile).start()  # the project, with or without extras
    assert torch < project, "the project would pull the CUDA build of torch from PyPI"
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in dockerfile


def test_runs_as_the_user_the_manifests_expect(dockerfile: str) -> None:
    # kustomize pods run as 10001 (tests/infra/test_kustomize.py checks that side).
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users == ["10001:10001"]
    assert "--uid 10001" in dockerfile


def test_model_servers_are_importable_by_module_name(dockerfile: str) -> None:
    assert "PYTHONPATH=/app/kserve" in dockerfile, "`python -m kserve_gate` needs kserve/ on the path"


def test_build_context_keeps_out_local_state(infra) -> None:
    rules = [
        line
        for line in (infra.repo / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*", "an allow-list: ignore everything, then admit the folders the roles need"
    admitted = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert {"src", "pyproject.toml"} <= admitted and not admitted & {
        ".venv",
        ".venv-tools",
        ".git",
        ".aiprime",
    }
