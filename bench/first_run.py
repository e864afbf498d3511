"""A whole `aiprime run` timed in one AIPRIME_HOME (or several runs in a row), with where the minutes went.

Runs `aiprime run` as a person would, from the checkout, with `AIPRIME_HOME` set; its output is not a
terminal here, so it prints plain lines, which this script echoes. Each finished stage prints
`✓ NAME in DURATION`; the script collects those and prints, per run, the wall time, every stage (the
Dagster steps and training tasks nest in "every Dagster asset") and the time outside the top-level stages
(imports, the summary) as "other", and when the first question was answered through the graph (the summary's
"First answer" line: the stack serves early, on what is ready). An empty home measures a first run; `--runs 2`
then measures a second run with nothing changed. Afterwards the serving stack and the services are stopped
(`--keep-running` leaves them up).

`--limit N` runs on a subset checkout (the data pipeline keeps the first N entries of each source) built
beside the home, for trying the script out; leave it out to measure the full data.

Run: `python bench/first_run.py --home /tmp/aiprime-first [--runs 2] [--limit N] [--keep-running]`
(from the repository root, after `make setup`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from aiprime import versioning

TOP_LEVEL = ("services up (PostgreSQL, MLflow)", "every Dagster asset", "DVC push")  # aiprime.cli.platform
FIRST_ANSWER_STAGE = "first answer, counted from the start of `aiprime run`"  # not a stage: a moment
STAGE_LINE = re.compile(
    r"^✓ (?P<name>.+) in (?P<took>[\d.]+ s|\d+ min \d+ s|\d+ h \d+ min)(?: \(.*items\))?$"
)
# aiprime.cli.platform's summary line (rich wraps it at the console's width, after this part)
FIRST_ANSWER = re.compile(r"^First answer through the graph at \S+, (?P<took>.+?) after")
NOT_LINKED = {"data", ".dvc", ".git", ".aiprime", ".venv", ".venv-tools"}


def seconds_of(took: str) -> float:
    """Seconds from a duration as `aiprime.cli.render.duration` writes it (4.2 s, 3 min 05 s, 1 h 02 min)."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", took)]
    if took.endswith(" min"):
        return numbers[0] * 3600 + numbers[1] * 60
    return numbers[0] * 60 + numbers[1] if "min" in took else numbers[0]


def subset_checkout(repo: Path, at: Path, limit: int) -> Path:
    """A checkout at `at` that links `repo`'s code and keeps the first `limit` entries of each source."""
    if not (at / ".dvc").is_dir():
        (at / "data").mkdir(parents=True, exist_ok=True)
        for entry in repo.iterdir():
            if entry.name not in NOT_LINKED:
                (at / entry.name).symlink_to(entry)
        (at / "data" / "dvc.yaml").write_text((repo / "data" / "dvc.yaml").read_text())
        (at / "data" / "params.yaml").write_text(f"limit: {limit}\n")
        versioning.dvc(at, "init", "--no-scm", "-q")
        versioning.dvc(at, "remote", "add", "-d", "local", str(at / "dvc-remote"))
    return at


def timed_run(
    aiprime: Path, checkout: Path, env: dict[str, str]
) -> tuple[float, list[tuple[str, float]], int]:
    """Run `aiprime run` once, echoing its output: wall seconds, (stage, seconds) in print order, exit code."""
    started = time.monotonic()
    stages = []
    with subprocess.Popen(
        [str(aiprime), "run"],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        for line in process.stdout:
            print(line, end="", flush=True)
            match = STAGE_LINE.match(line.rstrip("\n"))
            if match:
                stages.append((match["name"], seconds_of(match["took"])))
            answered = FIRST_ANSWER.match(line)
            if answered:
                stages.append((FIRST_ANSWER_STAGE, seconds_of(answered["took"])))
    return time.monotonic() - started, stages, process.returncode


def print_breakdown(number: int, wall: float, stages: list[tuple[str, float]], code: int) -> None:
    """One run's wall time, its stages (nested ones indented) and the time outside the top-level stages."""
    print(f"\nrun {number}: {wall:.1f} s wall ({wall / 60:.1f} min), exit code {code}")
    for name, seconds in stages:
        print(f"  {'' if name in TOP_LEVEL else '    '}{name:<60} {seconds:8.1f} s")
    other = wall - sum(seconds for name, seconds in stages if name in TOP_LEVEL)
    print(f"  {'other (start-up, imports, the summary)':<60} {other:8.1f} s")


def stop_everything(aiprime: Path, checkout: Path, env: dict[str, str]) -> None:
    """Stop the serving stack and the services the runs left running."""
    for command in (["serve", "stop"], ["services", "down"]):
        subprocess.run([str(aiprime), *command], cwd=checkout, env=env, capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, required=True, help="AIPRIME_HOME of the runs (empty: a first run)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs in a row (2: a first and a second run)")
    parser.add_argument(
        "--limit", type=int, default=0, help="entries per source of a subset checkout; 0: full"
    )
    parser.add_argument("--keep-running", action="store_true", help="leave the serving stack and services up")
    args = parser.parse_args()
    repo = versioning.find_repo_root(Path.cwd())
    home = args.home.resolve()
    checkout = (
        subset_checkout(repo, home.with_name(f"{home.name}-checkout"), args.limit) if args.limit else repo
    )
    aiprime = Path(sys.executable).with_name("aiprime")
    env = {**os.environ, "AIPRIME_HOME": str(home)}
    try:
        results = [timed_run(aiprime, checkout, env) for _ in range(args.runs)]
    finally:
        if not args.keep_running:
            stop_everything(aiprime, checkout, env)
    for number, (wall, stages, code) in enumerate(results, start=1):
        print_breakdown(number, wall, stages, code)


if __name__ == "__main__":
    main()
