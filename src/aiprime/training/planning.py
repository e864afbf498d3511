"""Planning a training run: which models it trains, and which champions registered in MLflow it reuses.

Every model of a run has a fingerprint: its architecture and classes (`experts.manifest`), salted with the
data version and the training settings; an upcycled expert's also holds the dense model's, so a new dense
model retrains the experts upcycled from it. The champion of each role carries the fingerprint it was trained
with as an MLflow tag; a champion whose fingerprint matches is current and reused, through
`experts.plan_training`. Adding an expert to `EXPERTS` thus trains the gate and the new expert only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiprime.errors import InvalidInput
from aiprime.moe import experts as registry_of_experts
from aiprime.moe import fitting
from aiprime.moe.config import RunConfig, TrainConfig
from aiprime.moe.dataset import TaskSplit, all_classes, fine_classes
from aiprime.moe.experts import EXPERTS, GATE, ExpertSpec
from aiprime.moe.fitting import DENSE_ROLE, GATE_ROLE, dense_config, expert_role, spec_named, why_untrainable
from aiprime.moe.networks import config_from_dict, load_metadata, load_model, save_model

DENSE = "dense"  # key of the dense baseline in a run's fingerprints (beside GATE and the expert names)


@dataclass(frozen=True)
class RunPlan:
    """What one training run trains, reuses and leaves out, and the fingerprints it tags models with."""

    data_version: str  # DVC md5 of the classification table
    limit: int  # rows per (split, lexname) the run used; 0: all
    run: dict[str, Any]  # the RunConfig, as `asdict` writes it
    fingerprints: dict[str, str]  # GATE, DENSE and each expert name -> this run's fingerprint
    gate: bool  # train the gate (else reuse its champion)
    dense: bool  # train the dense baseline (else reuse its champion)
    train: tuple[str, ...]  # experts to train
    keep: tuple[str, ...]  # experts whose champion is reused
    skip: dict[str, str] = field(default_factory=dict)  # expert -> why it is left out of this run
    questions_version: str = ""  # the gate's sense questions (`dataset.sample_questions`); "": none

    def trains(self, name: str) -> bool:
        """Whether this run trains model `name` (GATE, DENSE or an expert's name) rather than reusing it."""
        return {GATE: self.gate, DENSE: self.dense}.get(name, name in self.train)

    def run_config(self) -> RunConfig:
        """The training settings every step of this run uses."""
        return config_from_dict(RunConfig, self.run)

    @property
    def experts(self) -> list[str]:
        """The experts of this run's system, trained or reused, in registry order."""
        return [name for name in self.fingerprints if name in self.train or name in self.keep]

    def to_json(self) -> str:
        """The plan as JSON (a KFP artifact)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunPlan:
        """Read a plan written by `to_json`."""
        values = json.loads(text)
        return cls(**{k: tuple(v) if k in ("train", "keep") else v for k, v in values.items()})


def run_fingerprints(specs: Sequence[ExpertSpec], data_id: str, run: RunConfig) -> dict[str, str]:
    """Fingerprints of a run's models: the registry's (architecture, classes) with the data and the settings.

    An upcycled expert's includes the dense model's run fingerprint: it is retrained with the dense model.
    """
    salt = f"{data_id}|{run.key()}"

    def salted(fingerprint: str) -> str:
        return hashlib.sha256(f"{fingerprint}|{salt}".encode()).hexdigest()

    dense = salted(
        hashlib.sha256(
            json.dumps(
                {"dense": asdict(dense_config(len(all_classes()))), "classes": all_classes()}, sort_keys=True
            ).encode()
        ).hexdigest()
    )
    base = registry_of_experts.manifest(specs, spec_classes(specs), dense)
    return {key: salted(fp) for key, fp in base.items()} | {DENSE: dense}


def spec_classes(specs: Sequence[ExpertSpec]) -> dict[str, tuple[str, ...]]:
    """Every data domain's fine classes, and an empty tuple for a spec's domain that the data lacks.

    Every domain, not only the specs': an upcycled expert answers all of them (the dense model's classes),
    whichever experts the registry holds.
    """
    classes = fine_classes()
    return {s.domain: () for s in specs} | classes


def role_of(key: str, specs: Sequence[ExpertSpec] = EXPERTS) -> str:
    """The registry role of a fingerprint key: GATE, DENSE or an expert's name."""
    return {GATE: GATE_ROLE, DENSE: DENSE_ROLE}.get(key) or expert_role(spec_named(key, specs).domain)


def settled_fingerprints(
    tracking_uri: str, keys: Sequence[str], specs: Sequence[ExpertSpec]
) -> dict[str, set[str]]:
    """For each key whose role has a champion: the `fingerprint` tags of every registered version of it.

    A version carrying a run's fingerprint was trained on that data with those settings and already gated
    against the champion. Training it again gives the same weights (training is deterministic) and the same
    verdict, so a plan reuses the champion instead: a challenger that tied or lost is not retrained by
    every `make run`.
    """
    from mlflow import MlflowClient  # on use: the training steps never talk to MLflow

    from aiprime.registry import mlflow_registry as registry

    client, found = MlflowClient(tracking_uri), {}
    for key in keys:
        name = registry.registered_name(role_of(key, specs))
        if registry.version_for(tracking_uri, name, registry.CHAMPION) is not None:
            versions = client.search_model_versions(f"name = '{name}'")
            found[key] = {v.tags.get("fingerprint", "") for v in versions}
    return found


def plan_run(
    train: TaskSplit,
    val: TaskSplit,
    tracking_uri: str,
    data_version: str,
    run: RunConfig | None = None,
    limit: int = 0,
    retrain: bool = False,
    specs: Sequence[ExpertSpec] = EXPERTS,
    questions_version: str = "",
) -> RunPlan:
    """Plan a run: train what is new or changed (everything with `retrain`), reuse the other champions.

    "Changed" means no version of the model was yet trained on this data with these settings
    (`settled_fingerprints`). The gate's fingerprint also holds `questions_version`, the version of the sense
    questions it trains on besides the glosses: new questions retrain the gate only.

    Experts whose domain has no train or val rows in this data are left out (`skip`).

    Raises:
        InvalidInput: no expert can be trained or reused.
    """
    run = run or RunConfig()
    wanted = with_questions(run_fingerprints(specs, f"{data_version}|limit={limit}", run), questions_version)
    settled = {} if retrain else settled_fingerprints(tracking_uri, list(wanted), specs)
    classes = spec_classes(specs)
    base = registry_of_experts.manifest(specs, classes, wanted[DENSE])
    # plan_training compares architecture fingerprints; a champion counts as current only when a version was
    # already trained on this data with these settings (the champion itself, or a challenger it kept out).
    trained = {key: base[key] for key in base if wanted[key] in settled.get(key, set())}
    plan = registry_of_experts.plan_training(specs, classes, trained, wanted[DENSE])
    skip = {s.name: r for s in specs if (r := why_untrainable(s, train, val))}
    if len(skip) == len(specs):
        raise InvalidInput(f"No expert has rows to train on: {skip}. Use a larger --limit or the full data.")
    return RunPlan(
        data_version=data_version,
        limit=limit,
        run=asdict(run),
        fingerprints=wanted,
        gate=plan.gate,
        dense=wanted[DENSE] not in settled.get(DENSE, set()),
        train=tuple(n for n in plan.train if n not in skip),
        keep=tuple(n for n in plan.keep if n not in skip),
        skip=skip,
        questions_version=questions_version,
    )


def with_questions(fingerprints: dict[str, str], questions_version: str) -> dict[str, str]:
    """`fingerprints` with the gate's salted by the version of its sense questions (unchanged without any)."""
    if not questions_version:
        return fingerprints
    salted = hashlib.sha256(f"{fingerprints[GATE]}|questions={questions_version}".encode()).hexdigest()
    return fingerprints | {GATE: salted}


# The pipeline trains the experts this many at a time (its ParallelFor's parallelism).
FITS_AT_ONCE = 2


def fit_threads(threads: int) -> int | None:
    """Torch threads of one fit when a step may use `threads` (0: torch's default, None here).

    Fits share the step's threads with the fits running beside them: two fits of two threads each on two
    cores spin against each other. Two expert fits at once (3 epochs, 25,000 and 17,000 rows) took 68.0 s
    with two threads each and 12.6 s with one (load about 3; `python bench/training_fits.py`).
    """
    return max(1, threads // FITS_AT_ONCE) if threads else None


def run_config(max_epochs: int, lr: float, seed: int, threads: int) -> RunConfig:
    """A RunConfig from the flat values a pipeline passes (threads per step; 0: torch's default)."""
    train = TrainConfig(lr=lr, num_threads=fit_threads(threads))
    return RunConfig(max_epochs=max_epochs, seed=seed, train=train)


def describe(plan: RunPlan) -> dict[str, str]:
    """A plan as flat strings: MLflow parameters and KFP artifact metadata."""
    train = {k: v for k, v in plan.run["train"].items() if k != "num_threads"}
    trained = [GATE] * plan.gate + [DENSE] * plan.dense + list(plan.train)
    reused = [GATE] * (not plan.gate) + [DENSE] * (not plan.dense) + list(plan.keep)
    values = {
        "data_version": plan.data_version,
        "limit": plan.limit,
        "max_epochs": plan.run["max_epochs"],
        "seed": plan.run["seed"],
        **train,
        "trained": ",".join(trained),
        "reused": ",".join(reused),
        "skipped": ",".join(plan.skip),
        "questions_version": plan.questions_version,
    }
    return {k: str(v) for k, v in values.items()}


def train_or_reuse(
    plan: RunPlan,
    name: str,
    train: Path,
    val: Path,
    tracking_uri: str,
    out_dir: Path,
    specs: Sequence[ExpertSpec] = EXPERTS,
    dense: Path | None = None,
    questions: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Train model `name` (GATE, DENSE or an expert's name) into `out_dir`, or copy its champion there.

    Args:
        plan: the run's plan: what to train, the settings and the fingerprints.
        train, val: the split files prepare_data wrote.
        tracking_uri: the MLflow server holding the champions the plan reuses.
        dense: the folder of this run's dense model (trained or reused), which upcycled experts start from.
        questions: the gate's train and val sense questions prepare_data wrote (`dataset.sample_questions`).

    Returns:
        The model artifact's metadata: its registry `role`, `trained`, `expert` for an expert, and for a
        trained gate `questions`: how many train and val questions it saw and their version.
    """
    role = role_of(name, specs)
    trained = plan.trains(name)
    if not trained:
        fitting.fetch_model(tracking_uri, role, out_dir)
    else:
        splits = (TaskSplit.load(train), TaskSplit.load(val))
        run, fingerprint = plan.run_config(), plan.fingerprints[name]
        if name == GATE:
            return {"role": role, "trained": True} | train_gate_on_questions(
                plan, splits, out_dir, specs, questions
            )
        elif name == DENSE:
            fitting.train_dense(*splits, out_dir, run, fingerprint=fingerprint)
        else:
            spec = spec_named(name, specs)
            fitting.train_expert(spec, *splits, out_dir, run, fingerprint=fingerprint, dense=dense)
    return {"role": role, "trained": trained} | ({} if name in (GATE, DENSE) else {"expert": name})


def train_gate_on_questions(
    plan: RunPlan,
    splits: tuple[TaskSplit, TaskSplit],
    out_dir: Path,
    specs: Sequence[ExpertSpec],
    questions: tuple[Path, Path] | None,
) -> dict[str, Any]:
    """Train the gate on the glosses and the sense questions (when there are any); record them in its metadata.

    Returns:
        `{"questions": {"train": rows, "val": rows, "version": ...}}`, also written into the gate's
        `model.pt` metadata, which registration logs as the MLflow run's `questions.*` params.
    """
    asked = tuple(TaskSplit.load(path) for path in questions) if questions else ()
    used = asked if asked and all(len(split) for split in asked) else None
    fitting.train_gate(
        *splits, out_dir, plan.run_config(), specs, fingerprint=plan.fingerprints[GATE], questions=used
    )
    record = {
        "train": len(used[0]) if used else 0,
        "val": len(used[1]) if used else 0,
        "version": plan.questions_version if used else "",
    }
    path = out_dir / fitting.MODEL_FILE
    save_model(load_model(path), path, load_metadata(path) | {"questions": record})
    return {"questions": record}
