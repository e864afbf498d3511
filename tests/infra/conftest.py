"""Fixtures for the infrastructure tests: where the Terraform, kustomize and CRD files are, parsed once.

Tests that need a tool (`terraform`, `kubectl`, checkov) skip with the reason when it is missing, so the rest
still run on a laptop without them.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import hcl2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
KUSTOMIZE = REPO / "kustomize"
# In CI `shared/` sits beside the repository clone; the CRDs are read from there, never copied in.
CRDS = REPO.parent / "shared" / "crds"

MODULES = sorted(p.parent for p in (TERRAFORM / "modules").glob("*/main.tf"))
# Root configurations: the stack every environment/region runs (stacks/) and the state bootstrap.
STACKS = sorted(p.parent for p in (TERRAFORM / "stacks").glob("*/main.tf")) + [TERRAFORM / "bootstrap"]
OVERLAYS = sorted(p.parent for p in (KUSTOMIZE / "overlays").rglob("kustomization.yaml"))

_HCL_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@functools.cache
def load_hcl(path: Path) -> dict:
    """Parses an HCL file (Terraform or Terragrunt) into plain dicts, string quotes stripped. Cached: treat
    the result as read-only."""
    with path.open() as f:
        return hcl2.load(f, serialization_options=_HCL_OPTIONS)


def blocks(parsed: dict, kind: str) -> dict[str, dict]:
    """The labelled blocks of one kind (`variable`, `output`, `module`) of a parsed file, by label."""
    return {label: body for entry in parsed.get(kind, []) for label, body in entry.items()}


def stack_variables(directory: Path) -> dict[str, dict]:
    """Every `variable` block declared by the .tf files of one module or stack, by name."""
    found: dict[str, dict] = {}
    for tf in sorted(directory.glob("*.tf")):
        found.update(blocks(load_hcl(tf), "variable"))
    return found


def rel(path: Path) -> str:
    """A path relative to the repository root, for test ids and messages."""
    return str(path.relative_to(REPO))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrizes tests by the argument names `tf_file`, `hcl_file`, `module_dir`, `stack_dir`, `overlay`."""
    tables = {
        "tf_file": sorted(TERRAFORM.rglob("*.tf")),
        "hcl_file": sorted(TERRAFORM.rglob("*.hcl")),
        "module_dir": MODULES,
        "stack_dir": STACKS,
        "overlay": OVERLAYS,
    }
    for name, values in tables.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=[rel(v) for v in values])


@pytest.fixture(scope="session")
def infra() -> SimpleNamespace:
    """Paths and parsing helpers; test modules cannot import conftest under --import-mode=importlib."""
    return SimpleNamespace(
        repo=REPO,
        terraform=TERRAFORM,
        kustomize=KUSTOMIZE,
        crds=CRDS,
        load_hcl=load_hcl,
        blocks=blocks,
        stack_variables=stack_variables,
        rel=rel,
    )


@pytest.fixture(scope="session")
def terraform() -> str:
    """Path of `terraform`, or a skip: `fmt` and the plans of the stack's variables need it."""
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not on PATH: install Terraform 1.9+ to check formats and validation")
    return path


@pytest.fixture(scope="session")
def kubectl() -> str:
    """Path of `kubectl`, or a skip: kustomize builds need it."""
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not on PATH: install kubectl 1.32+ to build the kustomize overlays")
    return path


@pytest.fixture(scope="session")
def built(kubectl: str) -> dict[Path, list[dict]]:
    """Every overlay rendered once with `kubectl kustomize`, as lists of manifests, by overlay folder."""
    rendered = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"kubectl kustomize {rel(overlay)} failed:\n{result.stderr}"
        rendered[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return rendered


@pytest.fixture
def manifests(built: dict[Path, list[dict]], overlay: Path) -> list[dict]:
    """The rendered manifests of the overlay under test."""
    return built[overlay]
