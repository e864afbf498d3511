"""The models that the KServe servers load, the names they serve under, and where they come from.

Contract with the training pipeline: every registered version's artifact folder holds `model.pt`, written by
`aiprime.moe.networks.save_model(module, path, metadata=...)`, whose metadata has at least

- `classes`: the label names in output order (the domains for the gate, the lexnames for an expert);
- `role`: `"gate"`, `"expert"` or `"dense"`;
- `domain`: for an expert, the domain it serves (as in `aiprime.moe.experts.EXPERTS`, e.g. `people_society`).

A calibrated gate's metadata also holds `temperature` (its logits are divided by it before the softmax) and
`threshold` (the calibrated probability below which its route is not trusted), from
`aiprime.moe.calibration`. Servers read nothing else. They load the version of `aiprime-gate` / `aiprime-expert-<domain>` that carries
the MLflow alias `champion`, or a local folder holding `model.pt` (tests, offline use).

Names (`aiprime.serving.names`): the domain `people_society` is served as `expert-people-society`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from aiprime.errors import DataCorrupt, InvalidInput, NotFound
from aiprime.moe.networks import load_metadata, load_model, n_outputs
from aiprime.serving.names import registered_model_name, route_name, service_name

MODEL_FILE = "model.pt"  # the file save_model writes inside a version's artifact folder
ROLES = ("gate", "expert", "dense")


@dataclass(frozen=True)
class ServedModel:
    """A network ready to serve, with what its metadata says about its outputs."""

    module: nn.Module  # GateNet / ExpertNet / DenseBaseline in eval mode
    classes: tuple[str, ...]  # label of each output, in logit order
    role: str  # "gate" | "expert" | "dense"
    domain: str | None  # the expert's domain; None for the gate
    source: str  # where it was loaded from, for logs and errors
    version: str | None = None  # the registered version served, NAME@VERSION; None for a local folder
    temperature: float = 1.0  # divides the logits before the softmax (calibration); 1: uncalibrated
    threshold: float | None = None  # the gate's calibrated probability below which its route is unsure


@dataclass(frozen=True)
class ModelSource:
    """Where a server gets its model: a local folder, else the registry version carrying `alias`."""

    model_dir: Path | None = None  # a folder holding model.pt; wins over the registry when set
    tracking_uri: str | None = None  # the MLflow server
    alias: str = "champion"  # the alias of the version to serve
    cache_dir: Path | None = None  # where registry downloads go; None: <temp dir>/aiprime-models

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ModelSource:
        """The source that a server's parsed arguments name (`aiprime.serving.base_server.common_arguments`)."""
        return cls(args.model_dir, args.tracking_uri or None, args.alias, args.cache_dir)


def model_file(folder: Path) -> Path:
    """`model.pt` in `folder` or in its one subfolder (MLflow downloads an artifact path as a folder).

    Raises:
        NotFound: neither holds model.pt.
    """
    for candidate in (folder / MODEL_FILE, *sorted(folder.glob(f"*/{MODEL_FILE}"))):
        if candidate.is_file():
            return candidate
    raise NotFound(
        f"No {MODEL_FILE} in {folder}. Point --model_dir at a folder written by "
        f"aiprime.moe.networks.save_model, or register a model with `aiprime train`."
    )


def fetch(source: ModelSource, role: str, domain: str | None = None) -> tuple[Path, str | None]:
    """The local `model.pt` of a role and its registered version (NAME@VERSION): from `source.model_dir`
    (no version), else downloaded from the registry.

    Raises:
        InvalidInput: neither a folder nor a tracking URI is given.
        ModelNotReady: no registered version carries the alias.
    """
    if source.model_dir is not None:
        return model_file(Path(source.model_dir)), None
    if not source.tracking_uri:
        raise InvalidInput(
            f"No model source for {service_name(role, domain)}: pass --model_dir or --tracking_uri "
            "(or set AIPRIME_MLFLOW_TRACKING_URI)."
        )
    from aiprime.registry.mlflow_registry import download_alias

    name = registered_model_name(role, domain)
    cache = Path(source.cache_dir or Path(tempfile.gettempdir()) / "aiprime-models")
    folder, version = download_alias(
        source.tracking_uri, name, source.alias, cache / f"{name}@{source.alias}"
    )
    return model_file(folder), f"{name}@{version}"


def load_served(path: Path, role: str, domain: str | None = None, version: str | None = None) -> ServedModel:
    """Load `model.pt` and check its metadata against the role and domain it is served as.

    Raises:
        DataCorrupt: the metadata breaks the contract (see the module docstring).
    """
    module, metadata = load_model(path), load_metadata(path)
    classes = _classes(metadata, path)
    if metadata.get("role") != role:
        raise DataCorrupt(
            f"{path} was saved with role {metadata.get('role')!r}, but is served as {role!r}; "
            f"serve it with the {metadata.get('role')} server or re-save it with metadata role={role!r}."
        )
    if role == "expert" and metadata.get("domain") != domain:
        raise DataCorrupt(
            f"{path} is the expert of domain {metadata.get('domain')!r}, not {domain!r}; "
            f"pass --domain {metadata.get('domain')} or load the model of {domain!r}."
        )
    if len(classes) != n_outputs(module.config):
        raise DataCorrupt(
            f"{path} lists {len(classes)} classes for {n_outputs(module.config)} outputs; "
            "re-save it with one class name per output."
        )
    temperature, threshold = _calibration(metadata, path)
    return ServedModel(
        module, classes, role, metadata.get("domain"), str(path), version, temperature, threshold
    )


def load(source: ModelSource, role: str, domain: str | None = None) -> ServedModel:
    """Fetch and load the model a server serves (see `fetch` and `load_served`)."""
    path, version = fetch(source, role, domain)
    return load_served(path, role, domain, version)


def _classes(metadata: dict, path: Path) -> tuple[str, ...]:
    classes = metadata.get("classes")
    if not isinstance(classes, Sequence) or isinstance(classes, str) or not classes:
        raise DataCorrupt(
            f"{path} has no `classes` in its metadata; save it with "
            "save_model(module, path, metadata={'classes': [...], 'role': ...})."
        )
    return tuple(str(c) for c in classes)


def _calibration(metadata: dict, path: Path) -> tuple[float, float | None]:
    temperature, threshold = metadata.get("temperature", 1.0), metadata.get("threshold")
    valid = isinstance(temperature, int | float) and temperature > 0
    if not valid or (
        threshold is not None and not (isinstance(threshold, int | float) and 0 <= threshold <= 1)
    ):
        raise DataCorrupt(
            f"{path} has temperature {temperature!r} and threshold {threshold!r}; a temperature must be > 0 and "
            "a threshold in [0, 1]. Recalibrate it with aiprime.moe.calibration.calibrate_folder."
        )
    return float(temperature), None if threshold is None else float(threshold)


def gate_routes(gate: ServedModel, embeddings: np.ndarray) -> list[str]:
    """The gate's first choice (route name, `people-society`) for each embedding (N, 384)."""
    import torch

    with torch.no_grad():
        top = gate.module(torch.from_numpy(np.ascontiguousarray(embeddings))).logits.argmax(-1)  # (N,)
    return [route_name(gate.classes[i]) for i in top.tolist()]
