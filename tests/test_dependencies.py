"""Every third-party package the code imports is a dependency that pyproject.toml declares, pinned as locked.

A package that arrives only through another one's dependencies disappears the day that one drops it; a
declared pin that differs from `requirements.lock` installs something other than what was tested.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# The library and its thin adapters; tests and their conftest files may use the dev extra.
CODE = ("src", "kserve", "components")


def declared(group: str | None = None) -> dict[str, Requirement]:
    """The requirements of `[project] dependencies` (or of the optional group `group`), by canonical name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def locked(lock: str = "requirements.lock") -> dict[str, str]:
    """The versions a lock file (`requirements.lock`) pins, by canonical name."""
    pins = (line.split("==") for line in (REPO / lock).read_text().splitlines() if "==" in line)
    return {canonicalize_name(name): version.strip() for name, version in pins}


def in_federated_venv(name: str, path: Path) -> bool:
    """Flower's side of `aiprime.federated` runs in `.venv-federated`, pinned by requirements-federated.lock."""
    return path.is_relative_to(REPO / "src" / "aiprime" / "federated") and canonicalize_name(name) in locked(
        "requirements-federated.lock"
    )


def code_files() -> Iterator[Path]:
    """Every module of the library and the adapters, leaving out tests."""
    for folder in CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "tests" not in path.relative_to(REPO).parts and path.name != "conftest.py":
                yield path


def imported_top_levels(path: Path) -> set[str]:
    """The top-level names of the absolute imports in `path` (lazy ones inside functions too).

    Imports inside a `try` that catches ImportError are optional by design (the code says what to install
    when they are missing) and are left out.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    optional = {
        id(node) for guard in ast.walk(tree) if _catches_import_error(guard) for node in _body_nodes(guard)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def _catches_import_error(node: ast.AST) -> bool:
    if not isinstance(node, ast.Try):
        return False
    caught = [h.type for h in node.handlers if h.type is not None]
    names = {n.id for t in caught for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _body_nodes(guard: ast.AST) -> Iterator[ast.AST]:
    for statement in guard.body:
        yield from ast.walk(statement)


def is_local(name: str, path: Path) -> bool:
    """`aiprime` itself, or a module beside `path` (`python kserve/gate` puts kserve/gate on sys.path)."""
    return name == "aiprime" or (path.parent / f"{name}.py").exists() or (path.parent / name).is_dir()


def undeclared(paths: Iterable[Path], runtime: dict[str, Requirement]) -> set[str]:
    """The third-party imports of `paths` that no requirement of `runtime` provides, one line each."""
    dists, missing = packages_distributions(), set()
    for path in paths:
        for name in imported_top_levels(path):
            if name in sys.stdlib_module_names or is_local(name, path) or in_federated_venv(name, path):
                continue
            candidates = {canonicalize_name(d) for d in dists.get(name, [])}
            if not candidates & runtime.keys():
                where = path.relative_to(REPO)
                missing.add(f"{where} imports {name} (distribution {sorted(candidates) or 'not installed'})")
    return missing


def test_every_imported_third_party_package_is_declared() -> None:
    missing = undeclared(code_files(), declared() | declared("platform"))
    assert not missing, (
        "Imported but not declared in pyproject.toml [project] dependencies or the platform extra; add "
        "each, pinned to its requirements.lock version:\n" + "\n".join(sorted(missing))
    )


EDGE_RUNTIME = ("src/aiprime/edge/server.py", "src/aiprime/edge/runtime.py")
LOADED = 'import sys; print("\\n".join({name.partition(".")[0] for name in sys.modules}))'
EDGE_SERVER = "import aiprime.edge.server, onnxruntime, tokenizers; "  # the last two load with a bundle


def loaded_modules(code: str = "") -> set[str]:
    """The top-level modules a fresh interpreter holds after running `code`."""
    run = subprocess.run([sys.executable, "-c", code + LOADED], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def requirement_closure(requirements: Iterable[Requirement]) -> set[str]:
    """The distributions `requirements` install, their own requirements followed (extras' left out)."""
    todo, seen = [canonicalize_name(r.name) for r in requirements], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def test_the_edge_runtime_needs_only_the_base_dependencies() -> None:
    """`pip install 'aiprime[edge]'` installs the base alone: what the edge server imports must come from it."""
    base = declared()
    imported = loaded_modules(EDGE_SERVER) - loaded_modules()  # not what site's .pth files load at start-up
    dists, installed = packages_distributions(), requirement_closure(base.values())
    outside = {
        f"{name} ({', '.join(dists[name])})"
        for name in imported
        if name in dists and name != "aiprime" and not {canonicalize_name(d) for d in dists[name]} & installed
    }
    lazy = undeclared([REPO / path for path in EDGE_RUNTIME], base)
    assert not outside | lazy, (
        "The edge runtime imports packages outside [project] dependencies, which `aiprime[edge]` installs; "
        "keep them out of its modules or move them to the base:\n" + "\n".join(sorted(outside | lazy))
    )
    assert "torch" not in installed and not declared("edge")


def test_every_declared_pin_is_the_locked_version() -> None:
    lock = locked()
    wrong = [
        f"{requirement} (requirements.lock: {lock.get(name, 'absent')})"
        for name, requirement in (declared() | declared("platform") | declared("dev")).items()
        if not requirement.specifier or not requirement.specifier.contains(lock.get(name, "0"))
    ]
    assert not wrong, "Pin these to the version requirements.lock holds:\n" + "\n".join(wrong)
