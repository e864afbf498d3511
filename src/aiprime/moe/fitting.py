"""Fitting the mixture's models to `TaskSplit`s: the gate, one expert per domain and the dense baseline.

Each `train_*` function fits one network with `lightning.fit` and writes a model folder holding `model.pt`
(`save_model`'s format) whose metadata follows the serving contract (`aiprime.serving.served_models`): `role`
("gate", "expert" or "dense"), `classes` in logit order, an expert's `domain`; plus its `fingerprint`. That
folder is what KFP passes between steps, what MLflow registers, and what `MoESystem` and the servers load.
`aiprime.training.planning.plan_run` decides which of them a run trains and which champions it reuses.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from aiprime.errors import InvalidInput, ModelNotReady
from aiprime.moe.calibration import calibrate_folder
from aiprime.moe.config import RunConfig
from aiprime.moe.dataset import TaskSplit, all_classes, fine_classes
from aiprime.moe.experts import EXPERTS, ExpertSpec, domains, expert_seed, gate_config
from aiprime.moe.networks import DenseConfig, GateConfig, load_metadata, load_model, save_model
from aiprime.moe.upcycling import fine_tuning_rows, upcycle

MODEL_FILE = "model.pt"  # the weights file inside every model folder
GATE_ROLE, EXPERT_ROLE, DENSE_ROLE = "gate", "expert", "dense"  # the `role` in a model's metadata


def expert_role(domain: str) -> str:
    """The registry role of a domain's expert: registered as `aiprime-expert-<domain>`."""
    return f"{EXPERT_ROLE}-{domain}"


def registry_role(metadata: dict[str, Any]) -> str:
    """The registry role of a saved model, from its metadata: `gate`, `dense` or `expert-<domain>`."""
    return expert_role(metadata["domain"]) if metadata["role"] == EXPERT_ROLE else metadata["role"]


def dense_config(n_classes: int, spec: ExpertSpec = EXPERTS[0]) -> DenseConfig:
    """The dense baseline over `n_classes` classes: the FFN shape of `spec`'s SwitchMoE experts, which upcycling
    copies, so an expert path has only the routers' parameters more."""
    return DenseConfig.upcycling_source(spec.config(n_classes))


def encode(values: np.ndarray, labels: Sequence[str], what: str) -> np.ndarray:
    """Indices of `values` in `labels`; InvalidInput naming the strays if some are not labels."""
    index = {label: i for i, label in enumerate(labels)}
    strays = sorted(set(values.tolist()) - set(index))
    if strays:
        raise InvalidInput(f"{what}: values {strays} are not among the labels {list(labels)}.")
    return np.array([index[v] for v in values.tolist()], dtype=np.int64)


def fit_to_folder(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: Any,
    seed: int,
    run: RunConfig,
    out_dir: Path,
    metadata: dict[str, Any],
    init: Any = None,
) -> Path:
    """Fit `config` on (x, y, x_val, y_val) and write `out_dir/model.pt` with `metadata` and the history.

    `init` is the module to start from (an upcycled expert); None starts from `config`'s random init.
    """
    from aiprime.moe.lightning import fit  # Lightning is slow to import: only the steps that train pay for it

    with tempfile.TemporaryDirectory(prefix="aiprime-fit-") as work:
        model, history = fit(
            *arrays,
            config,
            seed=seed,
            max_epochs=run.max_epochs,
            out_dir=Path(work),
            train=run.train,
            init=init,
        )
    summary = {
        "best_epoch": history["best_epoch"],
        "best_val_loss": history["best_val_loss"],
        "epochs": len(history["epochs"]),
        "train_rows": len(arrays[0]),
        "val_rows": len(arrays[2]),
    }
    out_dir = Path(out_dir)
    save_model(
        model, out_dir / MODEL_FILE, {**metadata, "seed": seed, "run": asdict(run), "history": summary}
    )
    return out_dir


def train_gate(
    train: TaskSplit,
    val: TaskSplit,
    out_dir: Path,
    run: RunConfig | None = None,
    specs: Sequence[ExpertSpec] = EXPERTS,
    fingerprint: str = "",
    questions: tuple[TaskSplit, TaskSplit] | None = None,
    config: GateConfig | None = None,
) -> Path:
    """Fit the gate (text and word embeddings -> domain, with the balance loss) on every row whose domain has
    an expert.

    Its input is each row's `gate_x`: the text's embedding, then its word's (a question's quoted word; a gloss
    is its own word). Its learning rate is `run.train.lr * run.gate_lr_scale`
    (`RunConfig.for_gate`). `questions` (train, val) are what the gate serves besides glosses, sense questions
    (`dataset.build_question_splits`): joined to the glosses. Once fitted, the gate is calibrated on `val`
    (`calibration.calibrate_folder`: its temperature, and its confidence threshold chosen on the val
    questions when given, go into its metadata). `config` defaults to `experts.gate_config(specs)`.
    """
    run = run or RunConfig()
    labels = domains(specs)
    served = np.zeros(len(val), dtype=bool)  # the val rows that are questions
    if questions is not None:
        served = np.arange(len(val) + len(questions[1])) >= len(val)
        train, val = train.join(questions[0]), val.join(questions[1])
    served = served[np.isin(val.domain, labels)]
    train, val = (s.where(np.isin(s.domain, labels)) for s in (train, val))
    arrays = (
        train.gate_x,
        encode(train.domain, labels, "gate train"),
        val.gate_x,
        encode(val.domain, labels, "gate val"),
    )
    metadata = {
        "role": GATE_ROLE,
        "classes": list(labels),
        "experts": [s.name for s in specs],
        "fingerprint": fingerprint,
    }
    config = config or gate_config(specs)
    folder = fit_to_folder(arrays, config, run.seed, run.for_gate(), out_dir, metadata)
    calibrate_folder(folder, arrays[2], arrays[3], MODEL_FILE, served if served.any() else None)
    return folder


def train_expert(
    spec: ExpertSpec,
    train: TaskSplit,
    val: TaskSplit,
    out_dir: Path,
    run: RunConfig | None = None,
    fingerprint: str = "",
    dense: Path | None = None,
) -> Path:
    """Fit one domain's expert, early-stopped on its domain's val rows.

    From scratch (`spec.init == "scratch"`): on its domain's rows, over its domain's lexnames. Upcycled: from
    the dense model in the folder `dense` (`upcycling.upcycle`), over all its classes, fine-tuned on its
    domain's rows plus a share of other domains' at a lower learning rate and patience (`spec.upcycling`).
    """
    run = run or RunConfig()
    reason = why_untrainable(spec, train, val)
    if reason:
        raise InvalidInput(
            f"Cannot train expert {spec.name!r}: {reason}. Use a larger --limit or the full data."
        )
    seed, val = expert_seed(spec, run.seed), val.of_domain(spec.domain)
    metadata = {"role": EXPERT_ROLE, "expert": spec.name, "domain": spec.domain, "fingerprint": fingerprint}
    if not spec.upcycled:
        labels = fine_classes()[spec.domain]
        arrays = labelled(train.of_domain(spec.domain), val, labels, spec.name)
        metadata |= {"classes": list(labels), "init": spec.init}
        return fit_to_folder(arrays, spec.config(len(labels)), seed, run, out_dir, metadata)
    start, source = upcycled_start(spec, dense, seed)
    rows = fine_tuning_rows(train, spec.domain, spec.upcycling.other_share, seed)
    arrays = labelled(rows, val, source["classes"], spec.name)
    tuning = spec.upcycling
    tuned = replace(
        run, train=replace(run.train, lr=run.train.lr * tuning.lr_scale, patience=tuning.patience)
    )
    metadata |= {"classes": source["classes"], "init": spec.init, "dense": source.get("fingerprint", "")}
    return fit_to_folder(arrays, start.config, seed, tuned, out_dir, metadata, init=start)


def labelled(
    train: TaskSplit, val: TaskSplit, labels: Sequence[str], name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, x_val, y_val) with lexnames encoded as indices of `labels`."""
    return (
        train.x,
        encode(train.lexname, labels, f"{name} train"),
        val.x,
        encode(val.lexname, labels, f"{name} val"),
    )


def upcycled_start(spec: ExpertSpec, dense: Path | None, seed: int) -> tuple[Any, dict[str, Any]]:
    """The expert `spec` upcycled from the dense model folder `dense`, and that model's metadata."""
    path = Path(dense or "") / MODEL_FILE
    if dense is None or not path.is_file():
        raise InvalidInput(
            f"Expert {spec.name!r} is upcycled from the dense baseline, but no dense model folder was given "
            f"({dense}): train the dense model first (train_dense), or give the spec init='scratch'."
        )
    source = load_metadata(path)
    if source.get("role") != DENSE_ROLE:
        raise InvalidInput(
            f"{path} holds a {source.get('role')!r} model; upcycle from the dense baseline's folder."
        )
    return upcycle(load_model(path), spec.moe, seed), source


def train_dense(
    train: TaskSplit, val: TaskSplit, out_dir: Path, run: RunConfig | None = None, fingerprint: str = ""
) -> Path:
    """Fit the dense baseline (embedding -> all lexnames) with an expert path's active parameters."""
    run = run or RunConfig()
    labels = all_classes()
    arrays = labelled(train, val, labels, "dense")
    metadata = {"role": DENSE_ROLE, "classes": list(labels), "fingerprint": fingerprint}
    return fit_to_folder(arrays, dense_config(len(labels)), run.seed, run, out_dir, metadata)


def why_untrainable(spec: ExpertSpec, train: TaskSplit, val: TaskSplit) -> str | None:
    """Why an expert cannot be trained on these splits (no rows of its domain), or None."""
    n_train, n_val = int((train.domain == spec.domain).sum()), int((val.domain == spec.domain).sum())
    if n_train and n_val:
        return None
    return f"domain {spec.domain!r} has {n_train} train and {n_val} val rows"


def fetch_model(tracking_uri: str, role: str, dst: Path, alias: str = "champion") -> Path:
    """Download the model folder of `role` that carries `alias` into `dst` (which then holds `model.pt`)."""
    from aiprime.registry import mlflow_registry as registry  # on use: MLflow is slow to import

    name = registry.registered_name(role)
    with tempfile.TemporaryDirectory(prefix="aiprime-fetch-") as tmp:
        folder = registry.download(tracking_uri, name, alias, Path(tmp))
        source = next(Path(folder).rglob(MODEL_FILE), None)
        if source is None:
            raise ModelNotReady(
                f"{name}@{alias} holds no {MODEL_FILE}. Retrain it with `aiprime train --retrain`."
            )
        Path(dst).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, Path(dst) / MODEL_FILE)
    return Path(dst)


def spec_named(name: str, specs: Sequence[ExpertSpec] = EXPERTS) -> ExpertSpec:
    """The registered spec called `name`."""
    for spec in specs:
        if spec.name == name:
            return spec
    raise InvalidInput(
        f"No expert named {name!r}; registered: {[s.name for s in specs]} (aiprime/moe/experts.py)."
    )
