"""Kubeflow Pipelines plumbing: load the checkout's components and pipelines, compile them, run or submit them.

`components/` and `pipelines/` are folders of the checkout, not packages: their files are imported by path
(`importlib.util.spec_from_file_location`) from the checkout that `versioning.find_repo_root` finds. The
compiled YAML (`pipelines/compiled/<name>.yaml`) is committed; `stale_pipelines` says which ones no longer
match their source. A local run executes that YAML with `kfp.local`'s SubprocessRunner in this environment;
`submit` sends the same file to a Kubeflow Pipelines server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from aiprime.errors import NotFound, ServiceUnavailable, StageFailed
from aiprime.observability import progress
from aiprime.versioning import find_repo_root

BASE_IMAGE = "ghcr.io/aiprime/aiprime:latest"  # docker/aiprime.Dockerfile; the components' default image
EXPERIMENT = "aiprime-moe"  # KFP and MLflow experiment of the training runs
PIPELINES = ("moe_training", "federated")  # pipelines/<name>.py, each defining a function of the same name
COMPILED = Path("pipelines") / "compiled"

_modules: dict[Path, ModuleType] = {}


def load_file(path: Path, module_name: str) -> ModuleType:
    """Import a Python file by path once per process (the same objects on every call)."""
    path = Path(path).resolve()
    if path in _modules:
        return _modules[path]
    if not path.is_file():
        raise NotFound(f"{path} does not exist. Run this from an AI Prime checkout.")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _modules[path] = module
    return module


def load_component(name: str, root: Path) -> Any:
    """The KFP component `name` defined in `root/components/<name>/component.py`."""
    module = load_file(root / "components" / name / "component.py", f"aiprime_components.{name}")
    if not hasattr(module, name):
        raise NotFound(f"components/{name}/component.py defines no function {name!r}.")
    return getattr(module, name)


def load_pipeline(name: str = "moe_training", root: Path | None = None) -> Any:
    """The pipeline function `name` from `pipelines/<name>.py` of the checkout (`root`, or the one around cwd)."""
    root = root or find_repo_root(Path.cwd())
    module = load_file(root / "pipelines" / f"{name}.py", f"aiprime_pipelines.{name}")
    return getattr(module, name)


def compiled_path(name: str = "moe_training", root: Path | None = None) -> Path:
    """Where the committed compiled YAML of pipeline `name` lives."""
    return (root or find_repo_root(Path.cwd())) / COMPILED / f"{name}.yaml"


def compile_pipeline(name: str = "moe_training", out: Path | None = None, root: Path | None = None) -> Path:
    """Compile pipeline `name` to `out` (default: its committed path); the path written."""
    from kfp import compiler

    root = root or find_repo_root(Path.cwd())
    out = Path(out or compiled_path(name, root))
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(load_pipeline(name, root), str(out))
    return out


def compile_all(root: Path | None = None) -> list[Path]:
    """Compile every pipeline to `pipelines/compiled/` (what `make pipelines` runs)."""
    return [compile_pipeline(name, root=root) for name in PIPELINES]


def stale_pipelines(root: Path | None = None) -> list[str]:
    """The pipelines whose committed YAML differs from a fresh compile of their source."""
    root = root or find_repo_root(Path.cwd())
    stale = []
    with tempfile.TemporaryDirectory(prefix="aiprime-compile-") as tmp:
        for name in PIPELINES:
            fresh = compile_pipeline(name, Path(tmp) / f"{name}.yaml", root)
            committed = compiled_path(name, root)
            if not committed.is_file() or committed.read_text() != fresh.read_text():
                stale.append(name)
    return stale


def code_version(root: Path) -> str:
    """The checkout's git sha, with `-dirty` when it has uncommitted changes; `unknown` outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EVENT = re.compile(r"(Executing task|Task) '([^']+)'(?: finished with status (\w+))?")


class _LogTap:
    """A stdout stand-in that copies kfp.local's output to a log and reports task starts and ends, and the
    progress a task relays (`progress.LineRelay`) as stages here (`progress.Mirror`).

    ParallelFor iterations run in threads that write at once, hence the lock.
    """

    def __init__(self, log: TextIO, on_task: Callable[[str, str], None]) -> None:
        self.log, self.on_task, self.pending, self.lock = log, on_task, "", threading.Lock()
        self.mirror = progress.Mirror()

    def write(self, text: str) -> int:
        with self.lock:
            self.log.write(text)
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if self.mirror.line(line):
                continue
            match = _EVENT.search(_ANSI.sub("", line))
            if match and (match.group(1) == "Executing task" or match.group(3)):
                self.on_task(
                    match.group(2), "running" if match.group(1) == "Executing task" else match.group(3)
                )
        return len(text)

    def flush(self) -> None:
        self.log.flush()


@contextlib.contextmanager
def _tapped_stdout(log: TextIO, on_task: Callable[[str, str], None]) -> Iterator[None]:
    """Send sys.stdout (where kfp.local writes its logs and its tasks' output) through a `_LogTap`.

    kfp.local swaps the root logger's handlers around each message, and its loop threads can leave one
    that writes to the tap; the root logger is put back as it was.
    """
    before, root = sys.stdout, logging.getLogger()
    handlers, level = root.handlers[:], root.level
    tap = _LogTap(log, on_task)
    sys.stdout = tap  # type: ignore[assignment]
    try:
        yield
    finally:
        tap.mirror.close()
        sys.stdout = before
        root.handlers[:] = handlers
        root.setLevel(level)


def run_local(
    yaml_path: Path,
    arguments: Mapping[str, Any],
    pipeline_root: Path,
    log: TextIO,
    on_task: Callable[[str, str], None] = lambda task, state: None,
) -> Any:
    """Run a compiled pipeline here with kfp.local's SubprocessRunner (this environment, no containers).

    Args:
        yaml_path: the compiled pipeline.
        arguments: its parameters.
        pipeline_root: where kfp.local keeps each task's outputs.
        log: receives everything kfp.local and the tasks print.
        on_task: called with (task name, "running" | "SUCCESS" | "FAILURE") as tasks start and end.

    Returns:
        The pipeline's output.

    Raises:
        StageFailed: a task failed (its output is in `log`).
    """
    from kfp import components, local

    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True
    )
    pipeline = components.load_component_from_file(str(yaml_path))
    with _tapped_stdout(log, on_task), warnings.catch_warnings():
        # Resources and the base image are for the cluster; kfp.local says so once per task.
        warnings.filterwarnings(
            "ignore", message=".*(no effect in the current local runner|non-Python base image)"
        )
        try:
            return pipeline(**arguments).output
        except RuntimeError as e:
            raise StageFailed(
                f"{_ANSI.sub('', str(e))} See the task logs in {getattr(log, 'name', 'the log')}."
            ) from e


def submit(host: str, yaml_path: Path, arguments: Mapping[str, Any], experiment: str, run_name: str) -> str:
    """Submit a compiled pipeline to the Kubeflow Pipelines server at `host`; the run id."""
    import kfp

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2 and later"
            client = kfp.Client(host=host)
        run = client.create_run_from_pipeline_package(
            str(yaml_path), arguments=dict(arguments), run_name=run_name, experiment_name=experiment
        )
    except Exception as e:  # the client raises urllib3, ApiException, ValueError... for a bad host
        raise ServiceUnavailable(
            f"Cannot submit to Kubeflow Pipelines at {host}: {e}. "
            "Check --host or AIPRIME_KFP_HOST (e.g. http://localhost:8080 after a port-forward)."
        ) from e
    return run.run_id


def main() -> None:
    """`python -m aiprime.training.kubeflow`: compile every pipeline into pipelines/compiled/."""
    for path in compile_all():
        print(path)


if __name__ == "__main__":
    main()
