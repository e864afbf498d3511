"""The layer order of README.md is enforced: import contracts (`.importlinter`) and the adapters' imports."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ADAPTERS = ("kserve", "components", "pipelines")
NOT_FOR_ADAPTERS = ("aiprime.cli", "aiprime.orchestration")  # edges of their own, not libraries
REPOSITORY_FOLDERS = {p.name for p in REPO.iterdir() if p.is_dir()} | {"_helpers", "conftest"}


def installed_elsewhere(name: str) -> bool:
    """Whether `name` imports as an installed distribution (`kserve`, the KServe SDK), not a repository folder."""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin is not None and "site-packages" in Path(spec.origin).parts


def lint_imports(src: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's contracts, on the `aiprime` package found under `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [str(LINT_IMPORTS), "--config", str(REPO / ".importlinter"), "--no-cache"]
    return subprocess.run(argv, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_the_library_keeps_its_import_contracts() -> None:
    result = lint_imports(REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_import_against_the_layer_order_breaks_a_contract(tmp_path: Path) -> None:
    shutil.copytree(
        REPO / "src" / "aiprime", tmp_path / "aiprime", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "aiprime" / "db" / "upward.py").write_text("from aiprime.serving import names\n")
    (tmp_path / "aiprime" / "rag" / "starts.py").write_text(
        "def go():\n    from aiprime.services import stack\n"
    )
    out = lint_imports(tmp_path)
    assert out.returncode != 0
    assert "aiprime.db is not allowed to import aiprime.serving" in out.stdout
    assert "aiprime.rag is not allowed to import aiprime.services.stack" in out.stdout


def contract_layers() -> list[str]:
    """The layers contract of `.importlinter`, top first, without `aiprime.` and optional markers."""
    config = ConfigParser()
    config.read(REPO / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].strip().splitlines()
    return [re.sub(r"[()]|aiprime\.", "", line).strip() for line in lines]


def readme_layers() -> list[str]:
    """The layer order that README.md's Layout section states, top first."""
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- layers: begin")[1].split("<!-- layers: end -->")[0]
    rows = block.split("```")[1].strip().splitlines()
    return [re.split(r"\s{2,}", row.strip())[0] for row in rows]


def test_the_readme_states_the_layer_order_the_contracts_enforce() -> None:
    assert readme_layers() == contract_layers()


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file at `path`, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def adapter_violations(path: Path, root: Path = REPO) -> list[str]:
    """What an adapter file under `root` imports of the repository besides `aiprime` (its own folder's allowed)."""
    own = {p.stem for p in path.parent.glob("*.py")}
    bad = []
    for line, module in project_imports(path):
        top = module.split(".")[0]
        ours = top in REPOSITORY_FOLDERS and top not in own and not installed_elsewhere(top)
        if module.startswith(NOT_FOR_ADAPTERS) or ours:
            bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_adapters_import_only_the_library(adapter: str) -> None:
    files = [p for p in (REPO / adapter).rglob("*.py") if "tests" not in p.parts and p.name != "conftest.py"]
    assert files
    assert [v for p in files for v in adapter_violations(p)] == []


def test_an_adapter_importing_another_adapter_is_named(tmp_path: Path) -> None:
    server = tmp_path / "kserve" / "gate"
    server.mkdir(parents=True)
    (server / "model.py").write_text("import json\n")
    (server / "__main__.py").write_text(
        "from model import GateModel\nfrom pipelines.moe_training import x\nfrom aiprime.cli import app\n"
    )
    assert adapter_violations(server / "__main__.py", tmp_path) == [
        "kserve/gate/__main__.py:2 imports pipelines.moe_training",
        "kserve/gate/__main__.py:3 imports aiprime.cli",
    ]
